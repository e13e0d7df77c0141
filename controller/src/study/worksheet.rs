//! The worksheet arm: the day's exercise as a printable HTML page (print it
//! or "Save as PDF" from a browser). It holds no participant data.

use super::protocol::{Exercise, Protocol};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page for `day`.
pub fn render(p: &Protocol, participant: &str, day: u32, ex: &Exercise) -> String {
    let mut steps = String::new();
    for (i, s) in ex.steps.iter().enumerate() {
        steps.push_str(&format!("<li><p>{}</p><div class=\"box\"></div></li>\n", esc(s)));
        let _ = i;
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Day {day}: {title}</title>
<style>
body {{ font-family: serif; max-width: 42em; margin: 2em auto; line-height: 1.45; }}
.box {{ border: 1px solid #444; height: 6em; margin: .3em 0 1em; }}
.meta {{ color: #555; font-size: .9em; }}
.crisis {{ border-top: 1px solid #999; margin-top: 2em; padding-top: .5em; font-size: .9em; }}
@media print {{ body {{ margin: 0; }} }}
</style></head>
<body>
<p class="meta">Study {study} · participant {pid} · day {day} of {days}</p>
<h1>{title}</h1>
<p>{intro}</p>
<ol>
{steps}</ol>
<p>When you have finished, hand this page to the study team or keep it for yourself.</p>
<p class="crisis">If you are struggling or thinking about harming yourself, please reach the {rname}: {rcontact}. If you are in immediate danger, call your local emergency number.</p>
</body></html>
"#,
        day = day,
        days = p.study.days,
        title = esc(&ex.title),
        intro = esc(&ex.intro),
        study = esc(&p.study.id),
        pid = esc(participant),
        steps = steps,
        rname = esc(&p.crisis.resource_name),
        rcontact = esc(&p.crisis.resource_contact),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::protocol::EXAMPLE;

    #[test]
    fn the_page_has_every_step_and_the_crisis_resource_and_escapes_text() {
        let p = Protocol::load_str(EXAMPLE).unwrap();
        let mut ex = p.exercise_for(4).unwrap().clone();
        ex.steps.push("a <b> & c".into());
        let html = render(&p, "P01", 4, &ex);
        for s in &ex.steps[..ex.steps.len() - 1] {
            assert!(html.contains(&esc(s)), "{s}");
        }
        assert!(html.contains("a &lt;b&gt; &amp; c"));
        assert!(html.contains("988"));
        assert!(html.contains("day 4 of 15"));
    }
}
