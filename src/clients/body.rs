//! Reading an HTTP answer's body with a bound: streamed chunk by chunk, and never held past
//! the limit, so that a huge or endless answer costs at most the limit in memory.

/// Read at most `limit` bytes of `resp`'s body; the bool says whether the body was longer
/// (then the bytes are its start). A declared length over the limit stops before reading.
pub async fn read(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit) {
        // the start of a body refused whole is still read (it may be an error's message)
        let mut body = Vec::new();
        if let Some(chunk) = resp.chunk().await? {
            body.extend_from_slice(&chunk[..chunk.len().min(limit as usize)]);
        }
        return Ok((body, true));
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = (limit as usize).saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Serve `/endless` (a body that never ends), `/small` (100 bytes) and `/declared`
    /// (2,000 bytes with their length declared) on loopback.
    async fn server() -> String {
        use axum::routing::get;
        use futures::StreamExt;
        let app = axum::Router::new()
            .route(
                "/endless",
                get(|| async {
                    let s = futures::stream::repeat_with(|| {
                        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 8192]))
                    });
                    axum::body::Body::from_stream(s.boxed())
                }),
            )
            .route("/small", get(|| async { "y".repeat(100) }))
            .route("/declared", get(|| async { "z".repeat(2000) }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn bodies_are_cut_at_the_limit_and_say_so() {
        let base = server().await;
        let get = |p: &str| reqwest::get(format!("{base}{p}"));
        let (b, cut) = read(get("/endless").await.unwrap(), 100_000).await.unwrap();
        assert!(cut && b.len() == 100_000, "{} {cut}", b.len());
        let (b, cut) = read(get("/small").await.unwrap(), 100).await.unwrap();
        assert!(!cut && b.len() == 100);
        let (b, cut) = read(get("/small").await.unwrap(), 99).await.unwrap();
        assert!(cut && b.len() == 99);
        let (b, cut) = read(get("/declared").await.unwrap(), 1000).await.unwrap();
        assert!(cut && b.len() <= 1000 && b.iter().all(|c| *c == b'z'));
    }
}
