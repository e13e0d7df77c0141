//! Checks for the texts a site puts in its config with `{placeholders}`
//! (the crisis reply template): every required placeholder present, no
//! unknown or broken ones, so a template never prints `{bogus}` literally
//! or drops the crisis resource.

/// Checks `template` (the config field `field`): every name in `required`
/// must appear as `{name}`, and every `{...}` must be one of `required`.
/// The error names the field and what is wrong.
pub fn check_placeholders(field: &str, template: &str, required: &[&str]) -> Result<(), String> {
    let mut rest = template;
    let mut offset = 0usize;
    while let Some(open) = rest.find(['{', '}']) {
        let at = offset + open;
        if rest[open..].starts_with('}') {
            return Err(format!("field `{field}`: a `}}` without a matching `{{` at byte {at}"));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find(['}', '{']).filter(|&c| after[c..].starts_with('}')) else {
            return Err(format!("field `{field}`: a `{{` that is not closed at byte {at}"));
        };
        let name = &after[..close];
        if !required.contains(&name) {
            let known: Vec<String> = required.iter().map(|r| format!("{{{r}}}")).collect();
            return Err(format!("field `{field}`: unknown placeholder `{{{name}}}` (known: {})", known.join(", ")));
        }
        let consumed = open + 1 + close + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    for r in required {
        if !template.contains(&format!("{{{r}}}")) {
            return Err(format!("field `{field}`: must contain the placeholder `{{{r}}}` so the reply names the resource"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[&str] = &["resource_name", "resource_contact"];

    #[test]
    fn a_template_with_both_placeholders_is_accepted() {
        assert!(check_placeholders("crisis.reply_template", "Please reach the {resource_name}: {resource_contact}.", REQ).is_ok());
    }

    #[test]
    fn a_template_without_the_resource_is_rejected_by_field_and_placeholder() {
        let e = check_placeholders("crisis.reply_template", "Take care, bye.", REQ).unwrap_err();
        assert!(e.contains("crisis.reply_template") && e.contains("{resource_name}"), "{e}");
        let e = check_placeholders("crisis.reply_template", "Call {resource_name}.", REQ).unwrap_err();
        assert!(e.contains("{resource_contact}"), "{e}");
    }

    #[test]
    fn unknown_and_broken_placeholders_are_rejected() {
        let e = check_placeholders("crisis.reply_template", "{resource_name} {resource_contact} {bogus}", REQ).unwrap_err();
        assert!(e.contains("crisis.reply_template") && e.contains("{bogus}"), "{e}");
        assert!(check_placeholders("f", "{resource_name} {resource_contact} {oops", REQ).unwrap_err().contains("not closed"));
        assert!(check_placeholders("f", "{resource_name} {resource_contact} }", REQ).unwrap_err().contains("without a matching"));
        assert!(check_placeholders("f", "{resource_name {resource_contact}", REQ).is_err());
    }
}
