//! What the wrappers around the generated services (`guard`, `auth`)
//! share: the services they wrap, and the parts of `tower::Service` they
//! implement alike.

use std::convert::Infallible;

use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

/// A generated gRPC service, as a wrapper takes it.
pub trait GrpcService:
    Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + NamedService
    + Clone
    + Send
    + 'static
{
}

impl<S> GrpcService for S where
    S: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + NamedService
        + Clone
        + Send
        + 'static
{
}

/// The inner service `poll_ready` made ready, for a call that outlives
/// `&mut self`, with a clone left in its place (tower's pattern: the clone
/// is polled ready before its own call).
pub fn ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// The associated types and `poll_ready` of a wrapper whose `inner` field
/// is the wrapped service.
macro_rules! wrapper_service {
    () => {
        type Response = tonic::codegen::http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }
    };
}
pub(crate) use wrapper_service;
