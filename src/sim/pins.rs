//! The Python requirements each built-in simulated model was built with: real packages at real
//! versions of 2023–2024, as a model's `requirements.txt` logged with its version would hold
//! them. A few are inside the published affected ranges of real advisories (those records ship
//! in `fixtures/advisories/`), so that a console with no configuration shows real findings; the
//! rest are clean against the PyPA advisory database of 2024-10-10.
//!
//! Fixed data, not drawn from the seed: adding it changes no model's traffic or versions.

/// The requirements of the built-in models, in the order of `BUILTIN`; the numbered models
/// beyond it (`name-1`, …) share the requirements of the model they are numbered after.
pub(super) const PINS: [&str; 15] = [
    // query-intent
    "mlflow==2.16.2
transformers==4.44.2
torch==2.4.1
tokenizers==0.19.1
numpy==1.26.4
fastapi==0.115.0
uvicorn==0.30.6
requests==2.32.3
urllib3==2.2.3
protobuf==4.25.5
",
    // ranker-bert
    "mlflow==2.12.1
transformers==4.36.2
torch==2.1.2
tokenizers==0.15.0
numpy==1.26.2
fastapi==0.109.0
uvicorn==0.25.0
requests==2.31.0
urllib3==2.1.0
protobuf==4.25.1
",
    // spell-correct
    "mlflow==2.16.2
scikit-learn==1.5.2
numpy==1.26.4
flask==3.0.3
gunicorn==23.0.0
requests==2.32.3
",
    // ctr-predictor
    "mlflow==2.16.2
xgboost==2.1.1
scikit-learn==1.5.2
pandas==2.2.3
numpy==1.26.4
pyarrow==17.0.0
aiohttp==3.10.5
requests==2.32.3
",
    // bid-shading
    "mlflow==2.16.2
lightgbm==4.5.0
scikit-learn==1.5.1
pandas==2.2.2
numpy==1.26.4
aiohttp==3.9.1
requests==2.32.3
",
    // budget-pacer
    "mlflow==2.16.2
statsmodels==0.14.2
scipy==1.14.1
pandas==2.2.3
numpy==1.26.4
requests==2.32.3
py==1.11.0
",
    // txn-scorer
    "mlflow==2.16.2
xgboost==2.1.1
scikit-learn==1.4.1.post1
pandas==2.2.1
numpy==1.26.4
pyarrow==15.0.0
requests==2.31.0
urllib3==2.2.1
",
    // chargeback-risk
    "mlflow==2.16.2
catboost==1.2.7
scikit-learn==1.5.2
pandas==2.2.3
numpy==1.26.4
requests==2.32.3
",
    // kyc-doc-ocr
    "mlflow==2.16.2
torch==2.4.1
torchvision==0.19.1
pillow==10.2.0
opencv-python-headless==4.10.0.84
numpy==1.26.4
gitpython==3.1.40
requests==2.32.3
",
    // home-feed
    "mlflow==2.16.2
torch==2.4.1
faiss-cpu==1.8.0
numpy==1.26.4
pandas==2.2.3
fastapi==0.115.0
uvicorn==0.30.6
requests==2.32.3
",
    // similar-items
    "mlflow==2.16.2
torch==2.4.1
faiss-cpu==1.8.0
numpy==1.26.4
fastapi==0.115.0
uvicorn==0.30.6
requests==2.32.3
",
    // email-digest
    "mlflow==2.16.2
scikit-learn==1.5.2
jinja2==3.1.3
numpy==1.26.4
requests==2.32.3
",
    // image-moderation
    "mlflow==2.16.2
torch==2.4.1
torchvision==0.19.1
pillow==10.4.0
numpy==1.26.4
fastapi==0.115.0
uvicorn==0.30.6
requests==2.32.3
",
    // face-blur
    "mlflow==2.16.2
torch==2.4.1
torchvision==0.19.1
pillow==10.4.0
opencv-python-headless==4.8.1.78
numpy==1.26.4
requests==2.32.3
",
    // thumbnail-crop
    "mlflow==2.16.2
pillow==9.5.0
numpy==1.26.4
flask==3.0.3
gunicorn==22.0.0
requests==2.32.3
",
];
