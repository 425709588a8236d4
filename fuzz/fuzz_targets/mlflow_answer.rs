//! MLflow registry answers: any bytes as a registered model, a model version or a run.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitcrew::clients::mlflow::{ModelVersion, RegisteredModel, Run};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<RegisteredModel>(data);
    let _ = serde_json::from_slice::<ModelVersion>(data);
    let _ = serde_json::from_slice::<Run>(data);
});
