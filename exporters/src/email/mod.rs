//! `email` exporter: SMTP through `lettre`, STARTTLS and AUTH, plain-text and HTML bodies.

#[cfg(test)]
mod compliance;
mod config;
mod render;

pub use config::EmailConfig;
pub use render::{html_body, subject, text_body};

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, ExporterFactory, Factory,
    Kind, Signal,
};
use serde::{Deserialize, Serialize};

use crate::notify::group::{GroupSettings, Notification};
use crate::notify::outbox::{Deliver, Rendered};
use crate::notify::{self, Notifier, NotifyOptions};

pub struct EmailFactory;

impl Factory for EmailFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "email",
            kind: Kind::Exporter,
            signals: &[Signal::Logs],
            description: "Emails notifications about sentinel.alert records over SMTP",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<EmailConfig>(node)
    }
}

/// Why the SMTP client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    Tls(#[from] lettre::transport::smtp::Error),
    #[error("smarthost: expected host:port")]
    Smarthost,
}

impl ExporterFactory for EmailFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: EmailConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let notifier = Email::new(&config).map_err(|e| BuildError::Other {
            component: ctx.id.clone(),
            message: e.to_string(),
        })?;
        let options = NotifyOptions {
            grouping: Some(GroupSettings {
                route: config.route,
                send_resolved: config.send_resolved,
            }),
            rate_limit: config.rate_limit,
            silences: config.silences,
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        };
        notify::build(&ctx, notifier, options)
    }
}

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    to: String,
    from: String,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, EmailError> {
    std::fs::read(path).map_err(|source| EmailError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Email {
    pub fn new(config: &EmailConfig) -> Result<Email, EmailError> {
        let (host, port) = config.host_port().ok_or(EmailError::Smarthost)?;
        let server_name = config
            .tls
            .server_name_override
            .clone()
            .unwrap_or_else(|| host.clone());
        let mut tls = TlsParameters::builder(server_name)
            .dangerous_accept_invalid_certs(config.tls.insecure_skip_verify);
        if let Some(ca) = &config.tls.ca_file {
            tls = tls.add_root_certificate(Certificate::from_pem(&read(ca)?)?);
        }
        let tls = tls.build_rustls()?;
        let tls = match (port, config.require_tls) {
            (465, _) => Tls::Wrapper(tls),
            (_, true) => Tls::Required(tls),
            (_, false) => Tls::Opportunistic(tls),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .hello_name(ClientId::Domain(config.hello.clone()))
            .timeout(Some(config.timeout));
        if !config.auth_username.is_empty() {
            let password = match &config.auth_password_file {
                Some(path) => String::from_utf8_lossy(&read(path)?).trim().to_string(),
                None => config.auth_password.expose().to_string(),
            };
            builder = builder.credentials(Credentials::new(config.auth_username.clone(), password));
        }
        Ok(Email {
            transport: builder.build(),
            to: config.to.clone(),
            from: config.from.clone(),
        })
    }
}

/// What the outbox holds for one email.
#[derive(Debug, Serialize, Deserialize)]
struct Queued {
    subject: String,
    text: String,
    html: String,
}

impl Notifier for Email {
    fn render(&self, notification: &Notification) -> String {
        serde_json::to_string(&Queued {
            subject: subject(notification),
            text: text_body(notification),
            html: html_body(notification),
        })
        .unwrap_or_default()
    }
}

impl Email {
    fn message(&self, queued: Queued, key: &str) -> Result<Message, ExportError> {
        let bad = |e: String| ExportError::permanent(format!("cannot build the email: {e}"));
        let mut builder = Message::builder()
            .from(
                self.from
                    .parse::<Mailbox>()
                    .map_err(|e| bad(e.to_string()))?,
            )
            .subject(queued.subject);
        for to in self.to.split(',') {
            builder = builder.to(to
                .trim()
                .parse::<Mailbox>()
                .map_err(|e| bad(e.to_string()))?);
        }
        builder = builder.header(GroupKeyHeader(key.to_string()));
        builder
            .multipart(MultiPart::alternative_plain_html(queued.text, queued.html))
            .map_err(|e| bad(e.to_string()))
    }
}

#[async_trait]
impl Deliver for Email {
    async fn deliver(&self, rendered: &Rendered) -> Result<(), ExportError> {
        let queued: Queued = serde_json::from_str(&rendered.body)
            .map_err(|e| ExportError::permanent(format!("queued email is not JSON: {e}")))?;
        let message = self.message(queued, &rendered.key)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(ExportError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(ExportError::retryable(format!(
                "SMTP: {}",
                crate::otlphttp::with_causes(&e)
            ))),
        }
    }
}

/// `X-Sentinel-Group-Key`: the group key hash, for receivers that deduplicate.
#[derive(Clone)]
struct GroupKeyHeader(String);

impl lettre::message::header::Header for GroupKeyHeader {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("X-Sentinel-Group-Key")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(GroupKeyHeader(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}
