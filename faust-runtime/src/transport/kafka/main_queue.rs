//! Serving the admin client's main queue.
//!
//! rdkafka's `AdminClient` polls only the queue its admin results arrive on; librdkafka puts a
//! client's logs, errors and OAUTHBEARER token refresh requests on its *main* queue, which for
//! the admin client nobody polled: its TLS and authentication failures went unseen, and with
//! OAuth credentials it never got a token. [`serve`] starts a thread that polls that queue and
//! hands each event to the shared [`ClientCtx`], as the producers' and consumers' own polling
//! does. The thread ends once the admin client is dropped.

use super::ClientCtx;
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;
use std::ffi::{CStr, CString};
use std::sync::{Arc, Weak};

/// How long one poll waits; bounds how long the thread outlives its client.
const POLL_MS: i32 = 100;

/// Polls the main queue of `admin` on a thread of its own until `admin` is dropped.
pub(super) fn serve(admin: &Arc<AdminClient<ClientCtx>>) -> std::io::Result<()> {
    let weak: Weak<AdminClient<ClientCtx>> = Arc::downgrade(admin);
    std::thread::Builder::new()
        .name("faust-kafka-admin-events".into())
        .spawn(move || loop {
            let Some(admin) = weak.upgrade() else { return };
            let client = admin.inner();
            let rk = client.native_ptr();
            // SAFETY: `rk` stays valid while `admin` (a strong reference) is held; the queue
            // handle and the event are released before it is dropped.
            unsafe {
                let queue = rd::rd_kafka_queue_get_main(rk);
                let event = rd::rd_kafka_queue_poll(queue, POLL_MS);
                rd::rd_kafka_queue_destroy(queue);
                if !event.is_null() {
                    handle(client.context(), rk, event);
                    rd::rd_kafka_event_destroy(event);
                }
            }
        })
        .map(|_| ())
}

fn level_of(level: i32) -> RDKafkaLogLevel {
    match level {
        0 => RDKafkaLogLevel::Emerg,
        1 => RDKafkaLogLevel::Alert,
        2 => RDKafkaLogLevel::Critical,
        3 => RDKafkaLogLevel::Error,
        4 => RDKafkaLogLevel::Warning,
        5 => RDKafkaLogLevel::Notice,
        6 => RDKafkaLogLevel::Info,
        _ => RDKafkaLogLevel::Debug,
    }
}

/// # Safety
/// `rk` and `event` are live librdkafka handles.
unsafe fn handle(ctx: &ClientCtx, rk: *mut rd::rd_kafka_t, event: *mut rd::rd_kafka_event_t) {
    let text = |p: *const std::ffi::c_char| {
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().trim().to_string()
        }
    };
    match rd::rd_kafka_event_type(event) {
        rd::RD_KAFKA_EVENT_LOG => {
            let (mut fac, mut msg, mut level) = (std::ptr::null(), std::ptr::null(), 0);
            if rd::rd_kafka_event_log(event, &mut fac, &mut msg, &mut level) == 0 {
                ctx.log(level_of(level), &text(fac), &text(msg));
            }
        }
        rd::RD_KAFKA_EVENT_ERROR => {
            let error = KafkaError::Global(rd::rd_kafka_event_error(event).into());
            ctx.client_error(&error, &text(rd::rd_kafka_event_error_string(event)));
        }
        rd::RD_KAFKA_EVENT_OAUTHBEARER_TOKEN_REFRESH => {
            let token = ctx.oauth_token().and_then(|t| {
                Ok((
                    CString::new(t.token)?,
                    CString::new(t.principal_name)?,
                    t.lifetime_ms,
                ))
            });
            match token {
                Ok((token, principal, lifetime_ms)) => {
                    let mut err = [0 as std::ffi::c_char; 512];
                    let code = rd::rd_kafka_oauthbearer_set_token(
                        rk,
                        token.as_ptr(),
                        lifetime_ms,
                        principal.as_ptr(),
                        std::ptr::null_mut(),
                        0,
                        err.as_mut_ptr(),
                        err.len(),
                    );
                    if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                        let why = text(err.as_ptr());
                        ctx.health
                            .record("oauth", format!("librdkafka refused the token: {why}"));
                        if let Ok(why) = CString::new(why) {
                            rd::rd_kafka_oauthbearer_set_token_failure(rk, why.as_ptr());
                        }
                    }
                }
                Err(e) => {
                    let why = CString::new(e.to_string().replace('\0', " ")).unwrap_or_default();
                    rd::rd_kafka_oauthbearer_set_token_failure(rk, why.as_ptr());
                }
            }
        }
        _ => {}
    }
}
