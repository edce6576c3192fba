//! Serves `GET /metrics` (Prometheus' text format, `ovnkube_db_ha::metrics`) on the port the
//! manifest declares, with hyper on a thread and a single-threaded runtime of its own. Each
//! scrape reads `crm_mon` and the local copies' unixctl sockets on the runtime's blocking pool,
//! so a slow `crm_mon` delays only that scrape. The port is bound before `run` starts anything
//! else: a taken port is one clear error, not a pod that runs without its metrics.

use super::pcmk::cluster_status;
use super::status::{ctl, local_sync_state};
use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ovn_ha_contract::Db;
use ovnkube_db_ha::metrics::{EVENTS, Snapshot, render};
use std::convert::Infallible;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

ovnkube_db_ha::log_part!("metrics");

/// Pause after a failed accept (descriptors exhausted, say) before the next.
const ACCEPT_PAUSE: Duration = Duration::from_millis(500);

/// Binds `port` on every address and serves it on a thread of its own for the life of the
/// process.
pub fn start(port: u16) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).with_context(|| {
        format!(
            "cannot listen for metrics on port {port}; free it or set {} to another port (0: no metrics)",
            ovn_ha_config::db_env::METRICS_PORT
        )
    })?;
    listener
        .set_nonblocking(true)
        .context("metrics listener: non-blocking mode")?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(serve(listener)),
                Err(e) => log(format!("cannot start the runtime: {e}")),
            }
        })
        .context("cannot start the metrics thread")?;
    log(format!("serving /metrics on port {port}"));
    Ok(())
}

async fn serve(listener: TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return log(format!("cannot use the listener: {e}")),
    };
    // Runs for the life of the process; each connection is served on its own task.
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(answer);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Err(e) => {
                log(format!("accept failed: {e}"));
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET || req.uri().path() != "/metrics" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "only GET /metrics is served here\n".into(),
        ));
    }
    let text = tokio::task::spawn_blocking(scrape)
        .await
        .unwrap_or_else(|e| format!("# the scrape failed: {e}\n"));
    Ok(reply(
        StatusCode::OK,
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        text,
    ))
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// One scrape: `crm_mon` and both local copies, read now.
fn scrape() -> String {
    let cluster = cluster_status().ok();
    let copies = [
        ("nb", local_sync_state(&ctl(Db::Nb))),
        ("sb", local_sync_state(&ctl(Db::Sb))),
    ];
    render(&Snapshot {
        cluster: cluster.as_ref(),
        copies: &copies,
        events: EVENTS.counts(),
    })
}
