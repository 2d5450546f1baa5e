//! Deciding, case by case, whether C's answer and ours differ only as the
//! tables say.

use super::normalize;
use std::collections::BTreeMap;

/// Where a listed difference shows in a normalized answer.
pub enum Shows {
    /// The whole answer differs (another status, another page): the two
    /// are not the same, C's answer contains the first text and ours the
    /// second; nothing else of them is compared.
    Answer(&'static str, &'static str),
    /// Only lines starting with one of these (a header, or a `NAME=` line
    /// of the app's report; `*X` stands for lines containing X) differ;
    /// they are set aside and the rest must be the same.
    Lines(&'static [&'static str]),
    /// A race inside C: now and then C answers with an answer containing
    /// this text instead of its usual one. Such an answer of C's is taken
    /// as is, ours whatever it is (the case's other rows need not show in
    /// that run); otherwise the case is checked as usual. The row is never
    /// stale: the race is C's.
    CRace(&'static str),
}

/// A difference between C mod_fcgid and ours, and where it shows.
pub struct Row {
    /// A short name (the docs table's first column).
    pub name: &'static str,
    /// The cases where it shows; empty for "wherever it shows" (at least
    /// once).
    pub cases: &'static [&'static str],
    pub shows: Shows,
    /// What C does.
    pub c: &'static str,
    /// What we do.
    pub ours: &'static str,
    /// Why ours is better for users (KNOWN), or what fixes it (PENDING).
    pub why: &'static str,
}

fn matches(line: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|p| match p.strip_prefix('*') {
        Some(inner) => line.contains(inner),
        None => line.starts_with(p),
    })
}

fn lines_with<'a>(text: &'a str, patterns: &[&str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = text.lines().filter(|l| matches(l, patterns)).collect();
    v.sort_unstable();
    v
}

fn without(text: &str, patterns: &[&str]) -> String {
    text.lines()
        .filter(|l| !matches(l, patterns))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Does `row` show in this pair of answers?
fn shows(row: &Row, c: &str, ours: &str) -> bool {
    match row.shows {
        Shows::Answer(in_c, in_ours) => c != ours && c.contains(in_c) && ours.contains(in_ours),
        Shows::Lines(prefixes) => lines_with(c, prefixes) != lines_with(ours, prefixes),
        Shows::CRace(in_c) => c.contains(in_c),
    }
}

fn applies(row: &Row, case: &str) -> bool {
    row.cases.is_empty() || row.cases.contains(&case)
}

/// Compares every case; returns the failures (empty when C and ours
/// differ exactly as `rows` say). Each row comes with its table's name.
pub fn check(
    c: &BTreeMap<&'static str, String>,
    ours: &BTreeMap<&'static str, String>,
    rows: &[(&str, &Row)],
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut used = vec![false; rows.len()];
    // Cases where C's race went the other way in this run: a row that
    // lives only there cannot show, and is not stale for it.
    let mut raced_cases = std::collections::HashSet::new();
    for (case, a) in c {
        let b = &ours[case];
        let mut a_rest = a.clone();
        let mut b_rest = b.clone();
        let raced = rows.iter().any(|(_, row)| {
            applies(row, case) && matches!(row.shows, Shows::CRace(_)) && shows(row, a, b)
        });
        if raced {
            // C's answer says nothing here, ours still must: an Answer row
            // of the case keeps holding on our side.
            raced_cases.insert(*case);
            for (table, row) in rows {
                if let Shows::Answer(_, in_ours) = row.shows {
                    if applies(row, case) && !row.cases.is_empty() && !b.contains(in_ours) {
                        failures.push(format!(
                            "{case}: C raced, and ours no longer answers as {table} row `{}` says ({in_ours:?}):\n{b}",
                            row.name
                        ));
                    }
                }
            }
            continue;
        }
        let mut whole = false;
        for (i, (table, row)) in rows.iter().enumerate() {
            if !applies(row, case) || matches!(row.shows, Shows::CRace(_)) {
                continue;
            }
            let here = shows(row, a, b);
            if here {
                used[i] = true;
                match row.shows {
                    Shows::Answer(..) | Shows::CRace(_) => whole = true,
                    Shows::Lines(p) => {
                        a_rest = without(&a_rest, p);
                        b_rest = without(&b_rest, p);
                    }
                }
            } else if !row.cases.is_empty() {
                failures.push(format!(
                    "{case}: {table} row `{}` no longer shows here; remove the case from the row\n{}",
                    row.name,
                    normalize::diff(a, b)
                ));
            }
        }
        if !whole && a_rest != b_rest {
            failures.push(format!(
                "{case}: C and ours differ:\n{}",
                normalize::diff(&a_rest, &b_rest)
            ));
        }
    }
    for (i, (table, row)) in rows.iter().enumerate() {
        let only_raced = !row.cases.is_empty() && row.cases.iter().all(|k| raced_cases.contains(k));
        if !used[i] && !matches!(row.shows, Shows::CRace(_)) && !only_raced {
            failures.push(format!(
                "{table} row `{}` shows in no case any more: remove it{}",
                row.name,
                if *table == "KNOWN" {
                    " (and its line in docs/differences.md and README.md)"
                } else {
                    ""
                }
            ));
        }
    }
    failures
}
