//! What `pitcrew scan` reads from outside: any text as an OSV record (YAML or JSON) indexed
//! and asked about a version, and as a `requirements.txt` scanned against it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitcrew::security::index::Index;
use pitcrew::security::osv::parse_record;
use pitcrew::security::scan::{Target, scan, table};

const RECORD: &str = "id: F\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: \"2.0\"\n  versions: [\"1.0\"]\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut records: Vec<_> = [parse_record(text, false), parse_record(text, true)]
        .into_iter()
        .flatten()
        .collect();
    records.extend(parse_record(RECORD, false));
    let index = Index::build(&records, "PyPI");
    let targets = [
        Target {
            model: "fuzz".into(),
            requirements: text.to_string(),
        },
        Target {
            model: "pins".into(),
            requirements: "demo==1.0\ndemo~=1.0\ndemo>=0\n".into(),
        },
    ];
    let report = scan(&index, &targets);
    let _ = table(&report);
    let _ = serde_json::to_string(&report);
});
