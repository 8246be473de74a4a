//! Strict, simple checks of the documents planscale writes for people
//! (report.html, the SVG figures): self-contained and well-formed. No XML
//! parser in the tree: plotters' SVG has no comments, CDATA, doctype or
//! processing instructions, so a tag-balance check with attribute quoting is
//! exact for it. Include with `#[path = "support/document.rs"] mod document;`.
#![allow(dead_code)]

/// The one `http://` string allowed: the SVG namespace, a name, never fetched.
pub const SVG_NAMESPACE: &str = "xmlns=\"http://www.w3.org/2000/svg\"";

/// Every way an HTML or SVG file could load something from outside itself.
pub fn external_references(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(SVG_NAMESPACE, "");
    [
        "http://",
        "https://",
        "file://",
        "//cdn",
        "src=",
        "href=",
        "url(",
        "@import",
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "<image",
        "<use",
        "@font-face",
    ]
    .iter()
    .filter(|p| lower.contains(**p))
    .map(|p| p.to_string())
    .collect()
}

/// Checks that every element of `xml` is closed in order and every attribute
/// value is quoted; `void` names elements that never close (HTML's `meta`).
pub fn well_formed(xml: &str, void: &[&str]) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    let mut offset = 0usize;
    while let Some(i) = rest.find('<') {
        let at = offset + i;
        let tail = &rest[i..];
        let end = tail
            .find('>')
            .ok_or_else(|| format!("byte {at}: a tag that never ends"))?;
        let tag = &tail[1..end];
        if tag.starts_with('!') {
            // <!DOCTYPE html> only.
            if !tag.eq_ignore_ascii_case("!DOCTYPE html") {
                return Err(format!("byte {at}: unexpected <{tag}>"));
            }
        } else if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or_else(|| format!("byte {at}: </{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("byte {at}: </{name}> closes <{open}>"));
            }
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            if name.is_empty() {
                return Err(format!("byte {at}: a tag without a name"));
            }
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("byte {at}: unbalanced quotes in <{name}>"));
            }
            if !tag.ends_with('/') && !void.contains(&name.as_str()) {
                stack.push(name);
            }
        }
        offset = at + end + 1;
        rest = &xml[offset..];
    }
    match stack.pop() {
        None => Ok(()),
        Some(open) => Err(format!("<{open}> is never closed")),
    }
}

/// The SVG elements embedded in an HTML document.
pub fn inline_svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(a) = rest.find("<svg ") {
        let Some(b) = rest[a..].find("</svg>") else {
            break;
        };
        out.push(&rest[a..a + b + "</svg>".len()]);
        rest = &rest[a + b..];
    }
    out
}

#[test]
fn the_checks_catch_what_they_promise() {
    assert!(well_formed("<svg a=\"1\"><g><text>x</text></g><rect/></svg>", &[]).is_ok());
    assert!(well_formed("<svg><g></svg>", &[]).is_err());
    assert!(well_formed("<svg a=\"1></svg>", &[]).is_err());
    assert!(well_formed("<svg>", &[]).is_err());
    assert_eq!(
        external_references(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><image href=\"x.png\"/></svg>"
        ),
        vec!["href=", "<image"]
    );
    assert!(external_references("<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>").is_empty());
}
