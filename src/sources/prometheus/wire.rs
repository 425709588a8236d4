//! The HTTP API's JSON: parsing answers (values, matrices, vectors, errors) and telling the user what an answer means.

use super::*;

/// `data.resultType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    /// Instant vector.
    Vector,
    /// Range vector.
    Matrix,
    /// One number.
    Scalar,
    /// One string (no numbers: no series).
    String,
}

/// One series: its labels and its points `(unix seconds, value)`; non-finite values are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels (`__name__` included when present).
    pub labels: BTreeMap<String, String>,
    /// Points in the order the server sent them.
    pub points: Vec<(f64, f64)>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// What kind of result.
    pub result_type: ResultType,
    /// The series (a scalar is one series without labels).
    pub series: Vec<Series>,
    /// `warnings` (e.g. partial results).
    pub warnings: Vec<String>,
    /// `infos`.
    pub infos: Vec<String>,
}

/// A parsed body: success, or the API's error.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiBody {
    /// `status: success`.
    Success(QueryResult),
    /// `status: error`.
    Error {
        /// `errorType`.
        error_type: String,
        /// `error`.
        error: String,
    },
}

/// Parse a sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
/// Non-finite values come back as NaN (missing); `None` when it is not a number.
pub fn parse_value(s: &str) -> Option<f64> {
    let v = match s {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" | "-Inf" => f64::NAN,
        _ => s.trim().parse::<f64>().ok()?,
    };
    Some(if v.is_finite() { v } else { f64::NAN })
}

pub(super) fn parse_point(v: &serde_json::Value) -> Result<(f64, f64), String> {
    let arr = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("a point is not [time, \"value\"]: {}", clip(&v.to_string())))?;
    let t = match &arr[0] {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
    .filter(|t| t.is_finite())
    .ok_or_else(|| {
        format!(
            "a point's time is not a number: {}",
            clip(&arr[0].to_string())
        )
    })?;
    let val = match &arr[1] {
        serde_json::Value::String(s) => parse_value(s),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "a point's value is not a number in a string: {}",
            clip(&arr[1].to_string())
        )
    })?;
    Ok((t, val))
}

pub(super) fn parse_labels(
    v: Option<&serde_json::Value>,
) -> Result<BTreeMap<String, String>, String> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| "a series' \"metric\" is not an object".to_string())?;
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("label {k} is not a string"))
        })
        .collect()
}

/// Warnings and infos kept of one answer.
const MAX_WARNINGS: usize = 16;

pub(super) fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .take(MAX_WARNINGS)
                .map(|s| s.as_str().map_or_else(|| clip(&s.to_string()), clip))
                .collect()
        })
        .unwrap_or_default()
}

/// Parse an API answer body. `Err` says why it is not the API's JSON.
pub fn parse_body(body: &[u8]) -> Result<ApiBody, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "the answer is not a JSON object".to_string())?;
    let status = obj
        .get("status")
        .and_then(|s| s.as_str())
        .ok_or_else(|| "no \"status\" in the answer".to_string())?;
    match status {
        "success" => {}
        "error" => {
            return Ok(ApiBody::Error {
                error_type: obj
                    .get("errorType")
                    .and_then(|s| s.as_str())
                    .map_or_else(|| "unknown".to_string(), clip),
                // upstream text: clipped and without control characters
                error: crate::redact::text(
                    obj.get("error")
                        .and_then(|s| s.as_str())
                        .unwrap_or("(no error message)"),
                    400,
                ),
            });
        }
        other => return Err(format!("unknown status {:?}", clip(other))),
    }
    let warnings = strings(obj.get("warnings"));
    let infos = strings(obj.get("infos"));
    let data = obj
        .get("data")
        .and_then(|d| d.as_object())
        .ok_or_else(|| "no \"data\" object in a success answer".to_string())?;
    let rt = data
        .get("resultType")
        .and_then(|s| s.as_str())
        .ok_or_else(|| "no data.resultType".to_string())?;
    let result = data
        .get("result")
        .ok_or_else(|| "no data.result".to_string())?;
    let (result_type, series) = match rt {
        "vector" | "matrix" => {
            let is_vector = rt == "vector";
            let items = result
                .as_array()
                .ok_or_else(|| format!("data.result of a {rt} is not an array"))?;
            let mut series = Vec::with_capacity(items.len());
            for it in items {
                let labels = parse_labels(it.get("metric"))?;
                let points = if is_vector {
                    match it.get("value") {
                        Some(p) => vec![parse_point(p)?],
                        // a native histogram sample ("histogram"): no float value
                        None if it.get("histogram").is_some() => Vec::new(),
                        None => return Err("a vector sample has no \"value\"".into()),
                    }
                } else {
                    match it.get("values") {
                        Some(ps) => ps
                            .as_array()
                            .ok_or_else(|| "a series' \"values\" is not an array".to_string())?
                            .iter()
                            .map(parse_point)
                            .collect::<Result<Vec<_>, _>>()?,
                        None if it.get("histograms").is_some() => Vec::new(),
                        None => return Err("a matrix series has no \"values\"".into()),
                    }
                };
                series.push(Series { labels, points });
            }
            let t = if is_vector {
                ResultType::Vector
            } else {
                ResultType::Matrix
            };
            (t, series)
        }
        "scalar" => (
            ResultType::Scalar,
            vec![Series {
                labels: BTreeMap::new(),
                points: vec![parse_point(result)?],
            }],
        ),
        "string" => (ResultType::String, Vec::new()),
        other => return Err(format!("unknown resultType {:?}", clip(other))),
    };
    Ok(ApiBody::Success(QueryResult {
        result_type,
        series,
        warnings,
        infos,
    }))
}

pub(super) fn clip(s: &str) -> String {
    crate::redact::text(s, 160)
}

/// Turn an HTTP status and body into a result (pure; `url` and `query` go into the errors).
pub fn interpret(
    status: u16,
    body: &[u8],
    url: &str,
    query: &str,
) -> Result<QueryResult, PromError> {
    let parsed = parse_body(body);
    let q = || query.to_string();
    let u = || url.to_string();
    match parsed {
        Ok(ApiBody::Success(r)) if (200..300).contains(&status) => Ok(r),
        Ok(ApiBody::Success(_)) | Ok(ApiBody::Error { .. }) | Err(_)
            if status >= 500 || status == 429 =>
        {
            let message = match parsed {
                Ok(ApiBody::Error { error_type, error }) => format!("{error_type}: {error}"),
                _ => clip(&String::from_utf8_lossy(body)),
            };
            Err(PromError::Server {
                url: u(),
                query: q(),
                status,
                message,
            })
        }
        Ok(ApiBody::Error { error_type, error }) => match error_type.as_str() {
            "bad_data" => Err(PromError::BadData {
                url: u(),
                query: q(),
                message: error,
            }),
            "execution" => Err(PromError::Execution {
                url: u(),
                query: q(),
                message: error,
            }),
            "timeout" | "canceled" | "unavailable" | "internal" => Err(PromError::Server {
                url: u(),
                query: q(),
                status,
                message: format!("{error_type}: {error}"),
            }),
            _ => Err(PromError::Rejected {
                url: u(),
                query: q(),
                status,
                message: format!("{error_type}: {error}"),
                hint: hint(status),
            }),
        },
        Err(detail) if (200..300).contains(&status) => Err(PromError::Malformed {
            url: u(),
            query: q(),
            detail,
        }),
        Ok(ApiBody::Success(_)) | Err(_) => Err(PromError::Rejected {
            url: u(),
            query: q(),
            status,
            message: clip(&String::from_utf8_lossy(body)),
            hint: hint(status),
        }),
    }
}

pub(super) fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check prometheus.bearer_token",
        404 => "; check prometheus.url (it is the server's base URL, without /api/v1)",
        _ => "",
    }
}

pub use crate::redact::url as redact_url;

/// The short label of a source at `url`: `prometheus host:port`.
pub fn source_label(url: &str) -> String {
    let r = redact_url(url);
    let rest = r.split_once("://").map_or(r.as_str(), |(_, x)| x);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("prometheus {host}")
}
