//! The worker's startup banner (as Faust prints one): app, versions, broker and transport,
//! agents, topics, timers, web address (as bound). The broker URL is redacted; the embedded broker is
//! called out as keeping data in memory only.

use crate::app::App;
use crate::topology::{NodeKind, Topology};

/// What the banner says, one `(label, value)` per line.
pub(crate) fn lines(app: &App, topology: &Topology) -> Vec<(&'static str, String)> {
    let s = app.settings();
    let broker = crate::redact::redact_url(&s.broker).into_owned();
    let transport = if s.broker.starts_with("memory://") {
        "embedded (memory://): data lives in memory only and is lost when this process exits; \
         use --broker kafka://host:port to keep it"
            .to_string()
    } else {
        "kafka (librdkafka)".to_string()
    };
    let names = |kind: NodeKind| -> String {
        let v: Vec<&str> = topology
            .nodes
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.name.as_str())
            .collect();
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    let web = if s.web.enabled {
        // The bound address (the worker binds before printing this): port 0 shows the port
        // picked.
        let addr = app
            .web_addr()
            .unwrap_or_else(|| std::net::SocketAddr::new(s.web.bind, s.web.port));
        format!("http://{addr}/")
    } else {
        "disabled".to_string()
    };
    vec![
        ("id", app.id().to_string()),
        (
            "version",
            format!("{} (faust-rs {})", s.version, env!("CARGO_PKG_VERSION")),
        ),
        ("group", app.group_id()),
        ("broker", broker),
        ("transport", transport),
        ("agents", names(NodeKind::Agent)),
        ("topics", names(NodeKind::Topic)),
        ("channels", names(NodeKind::Channel)),
        ("timers", names(NodeKind::Timer)),
        ("web", web),
    ]
}

/// The banner as text.
pub(crate) fn text(lines: &[(&'static str, String)]) -> String {
    let mut out = String::from("faust-rs worker\n");
    for (label, value) in lines {
        out.push_str(&format!("  {label:<10} {value}\n"));
    }
    out.pop();
    out
}
