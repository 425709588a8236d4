//! Prometheus's HTTP API answers: any bytes as a body, with success and error statuses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for status in [200, 400, 422, 503] {
        if let Ok(r) = pitcrew::clients::prometheus::interpret_limited(status, data, "u", "q", 1000)
        {
            for s in r.series {
                for (t, v) in s.points {
                    assert!(t.is_finite() && (v.is_finite() || v.is_nan()));
                }
            }
        }
    }
});
