// attune web front: the little script the streaming needs. No build step.
// Participant chat: send messages, follow replies over SSE (sentence by
// sentence). Staff dashboard: replace the live part when the server sends it.
// Everything from the server is inserted as text (textContent), except the
// dashboard fragment, which the server renders with escaping.
(function () {
  'use strict';
  function $(s, r) { return (r || document).querySelector(s); }
  // Message sent -> first sentence shown / reply complete, per turn (read by the bench).
  window.attuneTimings = [];

  function chat() {
    var body = document.body, base = body.dataset.base, csrf = body.dataset.csrf;
    var conv = $('#conversation'), form = $('#composer'), box = $('#message'), notice = $('#notice'), send = $('#send');
    var held = send.disabled; // staff paused or stopped the chat (the server's word)
    var sentAt = [];       // send times not yet matched to a turn
    var timing = {};       // utt -> {sent, first}
    // The typing indicator follows the server: shown while a reply the
    // server has not marked done exists (and from the moment a message is
    // sent until the server has it), hidden when every reply is done. The
    // server releases sentences at the engine's pace, or the study's
    // matched pace; the page has no timer of its own. The status element
    // stays in the page (a live region must exist before it changes); only
    // its text comes and goes.
    var typingEl = $('#typing'), pendingSend = 0;
    function typing() {
      var on = pendingSend > 0 || !!conv.querySelector('.reply[data-done="false"]');
      if (typingEl.dataset.active === String(on)) return;
      typingEl.dataset.active = String(on);
      typingEl.textContent = on ? 'attune is writing\u2026' : '';
    }
    function notify(msg) { notice.textContent = msg || ''; notice.hidden = !msg; }
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function upsert(t) {
      var turn = conv.querySelector('.turn[data-utt="' + t.utt + '"]');
      if (!turn) {
        turn = el('div', 'turn'); turn.dataset.utt = t.utt;
        var u = el('div', 'user'); u.appendChild(el('span', 'who', 'You')); u.appendChild(el('p', 'text', t.user));
        var r = el('div', 'reply'); r.dataset.utt = t.utt; r.dataset.done = 'false';
        r.appendChild(el('span', 'who', 'attune')); r.appendChild(el('p', 'text'));
        var ty = el('span', 'typing', '\u2026'); ty.setAttribute('aria-hidden', 'true'); r.appendChild(ty);
        turn.appendChild(u); turn.appendChild(r); conv.appendChild(turn);
        if (sentAt.length) timing[t.utt] = { sent: sentAt.shift() };
      }
      var reply = turn.querySelector('.reply'), text = reply.querySelector('p.text');
      var have = text.querySelectorAll('.sentence').length;
      for (var i = have; i < t.sentences.length; i++) {
        text.appendChild(el('span', 'sentence', t.sentences[i]));
        text.appendChild(document.createTextNode(' '));
      }
      var tm = timing[t.utt];
      if (tm && t.sentences.length > 0 && tm.first === undefined) tm.first = performance.now();
      if (t.error && !reply.querySelector('.error')) reply.insertBefore(el('p', 'error', t.error), reply.querySelector('.typing'));
      if (t.crisis) $('#resource').hidden = false;
      if (t.done && reply.dataset.done !== 'true') {
        reply.querySelector('.typing').hidden = true;
        if (tm) window.attuneTimings.push({ utt: t.utt, first_ms: (tm.first || performance.now()) - tm.sent, done_ms: performance.now() - tm.sent });
        reply.dataset.done = 'true';
      }
      turn.scrollIntoView({ block: 'end' });
      typing();
    }
    var es = new EventSource(base + '/events');
    es.addEventListener('turns', function (ev) { JSON.parse(ev.data).forEach(upsert); });
    es.addEventListener('status', function (ev) {
      var st = JSON.parse(ev.data);
      $('#paused').hidden = !st.paused;
      $('#stopped').hidden = !st.stopped;
      held = st.paused || st.stopped;
      send.disabled = held;
      body.dataset.paused = st.paused ? 'true' : 'false';
    });
    es.addEventListener('ended', function () { es.close(); notify('This chat has ended. Reload the page to continue.'); });
    function submit() {
      var text = box.value;
      if (!text.trim()) { notify('Please write a message first.'); return; }
      notify('');
      // The box is cleared at once (the reply may arrive before this request
      // returns) and refilled if the message was not taken.
      box.value = '';
      send.disabled = true;
      sentAt.push(performance.now());
      pendingSend++; typing();
      fetch(base + '/message', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: csrf, message: text })
      }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, j: j }; }, function () { return { ok: false, j: {} }; });
      }).then(function (x) {
        pendingSend--; typing();
        send.disabled = held;
        if (x.ok) { box.focus(); }
        else {
          sentAt.pop();
          if (!box.value) box.value = text;
          notify(x.j.error || 'The message could not be sent. It is still in the box; please try again.');
        }
      }, function () {
        pendingSend--; typing();
        send.disabled = held; sentAt.pop();
        if (!box.value) box.value = text;
        notify('The message could not be sent (no connection). It is still in the box; please try again.');
      });
    }
    form.addEventListener('submit', function (ev) { ev.preventDefault(); submit(); });
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); submit(); }
    });
  }

  function dashboard() {
    var live = $('#live'), conn = $('#conn');
    var es = new EventSource('/staff/live');
    es.addEventListener('dash', function (ev) {
      if (live.innerHTML !== ev.data) live.innerHTML = ev.data;
      conn.textContent = 'live';
      document.body.dataset.updated = String(Date.now());
    });
    es.addEventListener('expired', function () { es.close(); window.location.href = '/staff/login'; });
    es.onopen = function () { conn.textContent = 'live'; };
    es.onerror = function () { conn.textContent = 'reconnecting\u2026'; };
  }

  document.addEventListener('DOMContentLoaded', function () {
    var page = document.body.dataset.page;
    if (page === 'chat') chat();
    else if (page === 'dashboard') dashboard();
  });
})();
