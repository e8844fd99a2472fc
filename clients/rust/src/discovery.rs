//! DNS-based discovery: the endpoint's host name resolved to every address
//! (a Kubernetes headless Service has one per ready pod), calls balanced
//! over them, and the name resolved again periodically and whenever a call
//! or a watch finds a server gone, so that new pods receive traffic within
//! the refresh interval and removed ones leave at once.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint, Uri};

/// Resolves a host name and port to socket addresses.
pub trait Resolve: Send + Sync + fmt::Debug + 'static {
    /// Every address `host` has now, with `port`.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>>;
}

/// The system's resolver (`getaddrinfo`: DNS, `/etc/hosts`, ...).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// How [`crate::Client`] finds the servers behind its endpoint's name.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// How often the name is resolved again when nothing failed.
    pub refresh: Duration,
    /// The resolver; [`SystemResolver`] by default.
    pub resolver: Arc<dyn Resolve>,
}

impl Discovery {
    /// The system's resolver, resolving again every `refresh`.
    pub fn dns(refresh: Duration) -> Self {
        Self {
            refresh,
            resolver: Arc::new(SystemResolver),
        }
    }
}

/// The shortest time between two resolutions asked for by failures.
const MIN_GAP: Duration = Duration::from_millis(200);

/// Asks the discovery task for a new resolution (a server was found gone).
#[derive(Debug, Clone)]
pub(crate) struct Nudge(Arc<Notify>);

impl Nudge {
    pub(crate) fn now(&self) {
        self.0.notify_one();
    }
}

/// A channel balanced over the addresses `options.endpoint`'s host name
/// resolves to, and the handle that asks for a new resolution. Each
/// address's endpoint has the options' timeouts and TLS, with the host name
/// as its origin (the `:authority`) and, over TLS, as the name the
/// certificate is checked for, not the address.
pub(crate) async fn channel(
    options: &crate::ConnectOptions,
    discovery: &Discovery,
) -> Result<(Channel, Nudge), crate::Error> {
    let uri: Uri = options
        .endpoint
        .parse()
        .map_err(|_| crate::Error::InvalidEndpoint(options.endpoint.clone()))?;
    let https = uri.scheme_str() == Some("https");
    let mut per_address = options.clone();
    if https && let Some(host) = uri.host() {
        let tls = per_address
            .tls
            .get_or_insert_with(crate::TlsOptions::default);
        tls.domain.get_or_insert_with(|| host.to_owned());
    }
    let scheme = if https { "https" } else { "http" };
    let origin = uri.clone();
    balanced(&uri, discovery, move |addr| {
        Ok(
            crate::client::endpoint(&per_address, &format!("{scheme}://{addr}"))?
                .origin(origin.clone()),
        )
    })
    .await
}

/// A balanced channel over the addresses `uri`'s host resolves to, and the
/// handle that asks for a new resolution; `endpoint` makes one address's
/// endpoint.
async fn balanced(
    uri: &Uri,
    discovery: &Discovery,
    endpoint: impl Fn(SocketAddr) -> Result<Endpoint, crate::Error> + Send + 'static,
) -> Result<(Channel, Nudge), crate::Error> {
    let host = uri
        .host()
        .ok_or_else(|| crate::Error::InvalidEndpoint(uri.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    let nudge = Nudge(Arc::new(Notify::new()));
    let mut task = Task {
        host,
        port,
        discovery: discovery.clone(),
        endpoint: Box::new(endpoint),
        changes,
        current: BTreeSet::new(),
    };
    // The first resolution before the first call.
    task.resolve_once().await;
    let wake = nudge.0.clone();
    tokio::spawn(async move { task.run(wake).await });
    Ok((channel, nudge))
}

type MakeEndpoint = Box<dyn Fn(SocketAddr) -> Result<Endpoint, crate::Error> + Send>;

struct Task {
    host: String,
    port: u16,
    discovery: Discovery,
    endpoint: MakeEndpoint,
    changes: mpsc::Sender<Change<SocketAddr, Endpoint>>,
    current: BTreeSet<SocketAddr>,
}

impl Task {
    async fn run(mut self, wake: Arc<Notify>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.discovery.refresh) => {}
                () = wake.notified() => {
                    tokio::time::sleep(MIN_GAP).await;
                }
                () = self.changes.closed() => return,
            }
            if !self.resolve_once().await {
                return;
            }
        }
    }

    /// Resolves and applies the difference; false once the channel is gone.
    async fn resolve_once(&mut self) -> bool {
        let found = match self.discovery.resolver.resolve(&self.host, self.port).await {
            Ok(found) => found.into_iter().collect::<BTreeSet<_>>(),
            Err(error) => {
                // Keep what was known: a resolver that fails for a moment
                // is no reason to drop servers that may still answer.
                tracing::warn!(host = %self.host, %error, "cannot resolve the server's name; keeping the known addresses");
                return !self.changes.is_closed();
            }
        };
        for gone in self.current.difference(&found).copied().collect::<Vec<_>>() {
            tracing::debug!(%gone, "server address removed");
            if self.changes.send(Change::Remove(gone)).await.is_err() {
                return false;
            }
            self.current.remove(&gone);
        }
        for new in found.difference(&self.current).copied().collect::<Vec<_>>() {
            match (self.endpoint)(new) {
                Ok(endpoint) => {
                    tracing::debug!(%new, "server address added");
                    if self
                        .changes
                        .send(Change::Insert(new, endpoint))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                    self.current.insert(new);
                }
                Err(error) => tracing::warn!(%new, %error, "cannot make an endpoint"),
            }
        }
        true
    }
}
