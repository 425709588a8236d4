//! The advisories that ship with the simulated fleet: the real OSV records (PyPA advisory
//! database, CC BY 4.0, attribution in `fixtures/advisories/README.md`) that affect the
//! simulated models' pinned requirements, compiled in so that a console with no configuration
//! shows real findings from any directory.

use super::index::Index;
use super::osv::{Record, parse_record};

/// Each record's path under `fixtures/advisories/` and its text.
pub const RECORDS: [(&str, &str); 7] = [
    (
        "aiohttp/PYSEC-2024-24.yaml",
        include_str!("../../fixtures/advisories/aiohttp/PYSEC-2024-24.yaml"),
    ),
    (
        "aiohttp/PYSEC-2024-26.yaml",
        include_str!("../../fixtures/advisories/aiohttp/PYSEC-2024-26.yaml"),
    ),
    (
        "fastapi/PYSEC-2024-38.yaml",
        include_str!("../../fixtures/advisories/fastapi/PYSEC-2024-38.yaml"),
    ),
    (
        "gitpython/PYSEC-2024-4.yaml",
        include_str!("../../fixtures/advisories/gitpython/PYSEC-2024-4.yaml"),
    ),
    (
        "pillow/PYSEC-2023-175.yaml",
        include_str!("../../fixtures/advisories/pillow/PYSEC-2023-175.yaml"),
    ),
    (
        "pillow/PYSEC-2023-227.yaml",
        include_str!("../../fixtures/advisories/pillow/PYSEC-2023-227.yaml"),
    ),
    (
        "py/PYSEC-2022-42969.yaml",
        include_str!("../../fixtures/advisories/py/PYSEC-2022-42969.yaml"),
    ),
];

/// The records, parsed (a record that does not parse is a defect of this build, caught by the
/// test below, and is left out rather than stopping a console).
pub fn records() -> Vec<Record> {
    RECORDS
        .iter()
        .filter_map(|(_, text)| parse_record(text, false).ok())
        .collect()
}

/// The index of the shipped advisories.
pub fn index() -> Index {
    Index::build(&records(), "PyPI")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_record_parses_and_is_indexed() {
        for (path, text) in RECORDS {
            let r = parse_record(text, false).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(
                path.ends_with(&format!("{}.yaml", r.id)),
                "{path} holds {}",
                r.id
            );
        }
        let index = index();
        assert_eq!(index.len(), RECORDS.len());
        assert!(index.unread_ranges.is_empty());
    }
}
