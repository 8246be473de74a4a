//! Structured mutations of a text seen as lines, for the property tests that
//! feed parsers edited copies of valid input (tests/schedule_fuzz.rs,
//! tests/parser_props.rs): delete, duplicate, swap, truncate a line, insert a
//! token, replace a character.
//!
//! Include with `#[path = "support/mutate.rs"] mod mutate;`.
#![allow(dead_code)]

use proptest::prelude::*;

/// One edit of a text seen as lines.
#[derive(Debug, Clone)]
pub enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Truncate(usize, usize),
    Insert(usize, String),
    ReplaceChar(usize, usize, char),
}

/// Edits whose inserted lines come from `token`.
pub fn edit(token: impl Strategy<Value = String>) -> impl Strategy<Value = Edit> {
    let i = 0usize..400;
    prop_oneof![
        i.clone().prop_map(Edit::Delete),
        i.clone().prop_map(Edit::Duplicate),
        (i.clone(), i.clone()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (i.clone(), 0usize..80).prop_map(|(a, b)| Edit::Truncate(a, b)),
        (i.clone(), token).prop_map(|(a, s)| Edit::Insert(a, s)),
        (i, 0usize..80, any::<char>()).prop_map(|(a, b, c)| Edit::ReplaceChar(a, b, c)),
    ]
}

/// `text` with `edits` applied in order, lines joined by `sep`.
pub fn apply(text: &str, edits: &[Edit], sep: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Truncate(i, k) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                let cut = l.char_indices().nth(*k).map_or(l.len(), |(p, _)| p);
                l.truncate(cut);
            }
            Edit::Insert(i, s) => lines.insert(i % (lines.len() + 1), s.clone()),
            Edit::ReplaceChar(i, k, c) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                if let Some((p, old)) = l.char_indices().nth(*k) {
                    l.replace_range(p..p + old.len_utf8(), &c.to_string());
                }
            }
            _ => {}
        }
    }
    lines.join(sep)
}
