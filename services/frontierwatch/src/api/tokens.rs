//! TokenService: admin-only management of bearer tokens.

use chrono::{DateTime, Utc};
use frontierwatch_proto::v1::token_service_server::TokenService;
use frontierwatch_proto::v1::{
    CreateTokenRequest, CreateTokenResponse, ListTokensRequest, ListTokensResponse,
    RevokeTokenRequest, Token, TokenRole,
};
use tonic::{Request, Response, Status};

use crate::domain::Kind;
use crate::domain::names::is_valid_id;
use crate::domain::violations::check_timestamp;
use crate::error::ApiError;
use crate::storage::filter::{ListQuery, page_size};
use crate::storage::tokens::{self, Role, TokenRow};
use crate::storage::{Store, timestamp};

/// The `frontierwatch.v1.TokenService` implementation.
#[derive(Debug, Clone)]
pub struct Tokens {
    store: Store,
}

impl Tokens {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// The role of a `TokenRole` value.
pub fn role_of(role: i32) -> Option<Role> {
    match TokenRole::try_from(role) {
        Ok(TokenRole::Reader) => Some(Role::Reader),
        Ok(TokenRole::Writer) => Some(Role::Writer),
        Ok(TokenRole::Admin) => Some(Role::Admin),
        Ok(TokenRole::Unspecified) | Err(_) => None,
    }
}

fn to_proto(row: TokenRow) -> Token {
    let role = match Role::parse(&row.role) {
        Some(Role::Reader) => TokenRole::Reader,
        Some(Role::Writer) => TokenRole::Writer,
        Some(Role::Admin) => TokenRole::Admin,
        None => TokenRole::Unspecified,
    };
    Token {
        name: row.name,
        role: role as i32,
        create_time: Some(timestamp(row.create_time)),
        expire_time: row.expire_time.map(timestamp),
        revoke_time: row.revoke_time.map(timestamp),
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    match name.strip_prefix("tokens/") {
        Some(id) if is_valid_id(id) => Ok(()),
        _ => Err(ApiError::invalid(
            "name",
            "must be a resource name of the form tokens/{token}",
        )),
    }
}

async fn create(store: &Store, r: CreateTokenRequest) -> Result<CreateTokenResponse, ApiError> {
    let mut v = crate::domain::Violations::default();
    if !is_valid_id(&r.token_id) {
        v.add(
            "token_id",
            "must be 1 to 63 lowercase letters, digits and hyphens, starting with a letter",
        );
    }
    let token = r.token.unwrap_or_default();
    let role = role_of(token.role);
    if role.is_none() {
        v.add("token.role", "must be a reader, writer or admin role");
    }
    let mut expire_time = None;
    if let Some(expire) = &token.expire_time {
        match check_timestamp(expire)
            .ok()
            .and_then(|()| DateTime::from_timestamp(expire.seconds, expire.nanos as u32))
        {
            Some(time) if time > Utc::now() => expire_time = Some(time),
            Some(_) => v.add("token.expire_time", "must be in the future"),
            None => v.add("token.expire_time", "must lie between the years 1 and 9999"),
        }
    }
    v.into_result()?;
    let role = role.unwrap_or(Role::Reader);
    let name = format!("tokens/{}", r.token_id);
    let (row, secret) = tokens::create(store.pool(), &name, role, expire_time).await?;
    tracing::info!(token = %row.name, role = role.as_str(), "token created");
    Ok(CreateTokenResponse {
        token: Some(to_proto(row)),
        secret,
    })
}

async fn list(store: &Store, r: ListTokensRequest) -> Result<ListTokensResponse, ApiError> {
    let size = page_size(r.page_size)?;
    // Tokens are not a kind of resource; their page tokens are bound to
    // the unspecified kind and no filter.
    let query = ListQuery::default();
    let key = store.page_token_key();
    let after = query
        .resume_after(key, Kind::Unspecified, &r.page_token)?
        .unwrap_or_default();
    let mut rows = tokens::list(store.pool(), &after, size + 1).await?;
    let more = rows.len() as i64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    let next_page_token = match rows.last() {
        Some(last) if more => query.page_token(key, Kind::Unspecified, &last.name),
        _ => String::new(),
    };
    Ok(ListTokensResponse {
        tokens: rows.into_iter().map(to_proto).collect(),
        next_page_token,
    })
}

async fn revoke(store: &Store, r: RevokeTokenRequest) -> Result<Token, ApiError> {
    check_name(&r.name)?;
    let row = tokens::revoke(store.tokens(), &r.name).await?;
    tracing::info!(token = %row.name, "token revoked");
    Ok(to_proto(row))
}

#[tonic::async_trait]
impl TokenService for Tokens {
    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        Ok(Response::new(
            create(&self.store, request.into_inner()).await?,
        ))
    }

    async fn list_tokens(
        &self,
        request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        Ok(Response::new(
            list(&self.store, request.into_inner()).await?,
        ))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<Token>, Status> {
        Ok(Response::new(
            revoke(&self.store, request.into_inner()).await?,
        ))
    }
}
