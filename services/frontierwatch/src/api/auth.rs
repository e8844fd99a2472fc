//! Authentication and roles for every call of the service's APIs.
//!
//! Each call carries `authorization: Bearer <secret>`. Methods of
//! FrontierWatchService whose names begin with Get, List, Watch or Compare
//! read and need a reader token (none with `--anonymous-reads`); every
//! other method of it writes and needs a writer token; every method of
//! TokenService needs an admin token. A new method is a write until it is
//! named as a read, so it cannot ship unprotected. Health and reflection
//! are not wrapped: probes and `grpcurl list` need no token.

use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use super::wrap::{GrpcService, ready, wrapper_service};

use crate::storage::tokens::{Checker, Principal, Role};

/// The role a method needs.
pub fn required_role(service: &str, method: &str) -> Role {
    const READS: &[&str] = &["Get", "List", "Watch", "Compare"];
    if service == "frontierwatch.v1.FrontierWatchService" {
        if READS.iter().any(|prefix| method.starts_with(prefix)) {
            Role::Reader
        } else {
            Role::Writer
        }
    } else {
        Role::Admin
    }
}

/// Wraps a generated service with the token check.
#[derive(Debug, Clone)]
pub struct Authenticated<S> {
    inner: S,
    checker: Checker,
    anonymous_reads: bool,
}

impl<S> Authenticated<S> {
    pub fn new(inner: S, checker: Checker, anonymous_reads: bool) -> Self {
        Self {
            inner,
            checker,
            anonymous_reads,
        }
    }
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

fn bearer(request: &http::Request<Body>) -> Option<String> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim().to_owned())
}

impl<S: GrpcService> Service<http::Request<Body>> for Authenticated<S> {
    wrapper_service!();

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let needed = required_role(S::NAME, &method);
        let mut inner = ready(&mut self.inner);
        if needed == Role::Reader && self.anonymous_reads {
            return Box::pin(inner.call(request));
        }
        let checker = self.checker.clone();
        let secret = bearer(&request);
        Box::pin(async move {
            let deny = |status: tonic::Status, role: &'static str| {
                metrics::counter!(
                    crate::metrics::AUTH_DENIED,
                    "grpc_code" => crate::api::observe::code_name(status.code() as i32),
                    "role" => role,
                )
                .increment(1);
                Ok(status.into_http())
            };
            let Some(secret) = secret else {
                return deny(
                    tonic::Status::unauthenticated(format!(
                        "{method} needs a {} token: send `authorization: Bearer <token>`",
                        needed.as_str()
                    )),
                    "anonymous",
                );
            };
            let principal = match checker.authenticate(&secret).await {
                Ok(Some(principal)) => principal,
                Ok(None) => {
                    return deny(
                        tonic::Status::unauthenticated(
                            "the token is not valid: unknown, expired or revoked",
                        ),
                        "invalid",
                    );
                }
                Err(error) => return deny(tonic::Status::from(error), "unchecked"),
            };
            if principal.role < needed {
                return deny(
                    tonic::Status::permission_denied(format!(
                        "{} is a {} token; {method} needs a {} token",
                        principal.name,
                        principal.role.as_str(),
                        needed.as_str()
                    )),
                    principal.role.as_str(),
                );
            }
            // Every change the call writes names the token as its actor
            // (`api::actor` reads it from here).
            request.extensions_mut().insert::<Principal>(principal);
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_named_and_everything_else_writes() {
        let fw = "frontierwatch.v1.FrontierWatchService";
        assert_eq!(required_role(fw, "GetLeaderboard"), Role::Reader);
        assert_eq!(required_role(fw, "ListReleases"), Role::Reader);
        assert_eq!(required_role(fw, "Watch"), Role::Reader);
        assert_eq!(required_role(fw, "CompareReleases"), Role::Reader);
        assert_eq!(required_role(fw, "ImportResources"), Role::Writer);
        assert_eq!(required_role(fw, "RecomputeEverything"), Role::Writer);
        assert_eq!(
            required_role("frontierwatch.v1.TokenService", "ListTokens"),
            Role::Admin
        );
    }
}
