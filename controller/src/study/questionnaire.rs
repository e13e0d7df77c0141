//! Questionnaires, administered the same way in every arm: text prompts, one
//! integer answer per item, validated against the instrument's scale.
//!
//! Answers come from `--answers FILE` (offline rehearsal) — a JSON object
//! `{"baseline": {"phq4": [0, 1, 2, 1]}, "pre": {"mood": [4]}, ...}` — or
//! interactively from stdin. A file is checked completely before the session
//! starts, so a wrong answer never leaves half a day recorded.

use super::protocol::{Protocol, Questionnaire, Timing};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Instruments due on `day`, before or after the session, in protocol order.
pub fn due(p: &Protocol, day: u32, before: bool) -> Vec<(Timing, &Questionnaire)> {
    let order = if before { vec![Timing::Baseline, Timing::Pre] } else { vec![Timing::Post, Timing::Weekly, Timing::Final] };
    let mut out = Vec::new();
    for t in order {
        if !t.due(day, p.study.days) {
            continue;
        }
        for q in &p.questionnaires {
            if q.when.contains(&t) {
                out.push((t, q));
            }
        }
    }
    out
}

/// Parsed answers file: timing → instrument → values.
pub type AnswersFile = BTreeMap<String, BTreeMap<String, Vec<i64>>>;

/// Checks one instrument's values against its scale; the error names the item.
pub fn check_values(t: Timing, q: &Questionnaire, values: &[i64]) -> anyhow::Result<()> {
    if values.len() != q.items.len() {
        bail!("answers {}.{}: {} values for {} items", t.as_str(), q.id, values.len(), q.items.len());
    }
    for (i, v) in values.iter().enumerate() {
        if *v < q.scale.min || *v > q.scale.max {
            bail!("answers {}.{} item {}: {v} is outside the scale {}..={}", t.as_str(), q.id, i + 1, q.scale.min, q.scale.max);
        }
    }
    Ok(())
}

/// Reads an answers file and takes the values for the instruments due,
/// checking every one (missing or out of range is an error).
pub fn from_file(path: &std::path::Path, due: &[(Timing, &Questionnaire)]) -> anyhow::Result<Vec<(Timing, String, Vec<i64>)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading answers file {}", path.display()))?;
    let file: AnswersFile = serde_json::from_str(&text).with_context(|| {
        format!("answers file {}: expected {{\"baseline\": {{\"INSTRUMENT\": [values...]}}, \"pre\": ..., \"post\": ..., \"weekly\": ..., \"final\": ...}}", path.display())
    })?;
    for k in file.keys() {
        if !["baseline", "pre", "post", "weekly", "final"].contains(&k.as_str()) {
            bail!("answers file {}: unknown timing {k:?} (baseline | pre | post | weekly | final)", path.display());
        }
    }
    let mut out = Vec::new();
    for (t, q) in due {
        let Some(values) = file.get(t.as_str()).and_then(|m| m.get(&q.id)) else {
            bail!("answers file {}: {}.{} is due today but missing", path.display(), t.as_str(), q.id);
        };
        check_values(*t, q, values).map_err(|e| anyhow::anyhow!("answers file {}: {e}", path.display()))?;
        out.push((*t, q.id.clone(), values.clone()));
    }
    Ok(out)
}

/// Asks the due instruments on `out`, reading answers from `input`; an
/// answer outside the scale is asked again.
pub fn interactive(
    due: &[(Timing, &Questionnaire)],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<(Timing, String, Vec<i64>)>> {
    let mut res = Vec::new();
    for (t, q) in due {
        writeln!(out, "\n{} ({})", q.name, t.as_str())?;
        writeln!(out, "{}", q.instruction)?;
        if !q.scale.labels.is_empty() {
            let labels: Vec<String> = q.scale.labels.iter().enumerate().map(|(i, l)| format!("{} = {l}", q.scale.min + i as i64)).collect();
            writeln!(out, "  {}", labels.join(", "))?;
        }
        let mut values = Vec::new();
        for (i, item) in q.items.iter().enumerate() {
            loop {
                write!(out, "  {}. {item} [{}-{}]: ", i + 1, q.scale.min, q.scale.max)?;
                out.flush()?;
                let mut line = String::new();
                if input.read_line(&mut line)? == 0 {
                    bail!("input ended during {} item {}; nothing of this session was recorded", q.id, i + 1);
                }
                match line.trim().parse::<i64>() {
                    Ok(v) if v >= q.scale.min && v <= q.scale.max => {
                        values.push(v);
                        break;
                    }
                    _ => writeln!(out, "  please answer with a whole number from {} to {}", q.scale.min, q.scale.max)?,
                }
            }
        }
        res.push((*t, q.id.clone(), values));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::protocol::EXAMPLE;

    fn proto() -> Protocol {
        Protocol::load_str(EXAMPLE).unwrap()
    }

    #[test]
    fn day_one_asks_baseline_and_pre_before_and_post_after() {
        let p = proto();
        let before: Vec<_> = due(&p, 1, true).iter().map(|(t, q)| format!("{}.{}", t.as_str(), q.id)).collect();
        assert_eq!(before, ["baseline.phq4", "baseline.k10", "pre.mood"]);
        let after: Vec<_> = due(&p, 15, false).iter().map(|(t, q)| format!("{}.{}", t.as_str(), q.id)).collect();
        assert_eq!(after, ["post.mood", "final.phq4", "final.k10", "final.bond"]);
    }

    #[test]
    fn an_answer_out_of_range_names_the_instrument_and_item() {
        let p = proto();
        let d = due(&p, 1, true);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.json");
        std::fs::write(&f, r#"{"baseline": {"phq4": [0, 1, 4, 0], "k10": [1,1,1,1,1,1,1,1,1,1]}, "pre": {"mood": [3]}}"#).unwrap();
        let e = from_file(&f, &d).unwrap_err().to_string();
        assert!(e.contains("baseline.phq4 item 3") && e.contains("0..=3"), "{e}");
    }

    #[test]
    fn a_missing_due_instrument_is_an_error() {
        let p = proto();
        let d = due(&p, 2, true);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.json");
        std::fs::write(&f, r#"{"post": {"mood": [3]}}"#).unwrap();
        assert!(from_file(&f, &d).unwrap_err().to_string().contains("pre.mood"));
    }

    #[test]
    fn interactive_answers_re_ask_until_in_range() {
        let p = proto();
        let d = due(&p, 2, true);
        let mut input = std::io::Cursor::new(b"11\nfive\n5\n".to_vec());
        let mut out = Vec::new();
        let r = interactive(&d, &mut input, &mut out).unwrap();
        assert_eq!(r[0].2, vec![5]);
        assert_eq!(String::from_utf8(out).unwrap().matches("please answer").count(), 2);
    }
}
