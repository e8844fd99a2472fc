//! `fwatch token`: manage bearer tokens (admin tokens only).

use frontierwatch_client::proto::token_service_client::TokenServiceClient;
use frontierwatch_client::proto::{
    CreateTokenRequest, ListTokensRequest, RevokeTokenRequest, Token, TokenRole,
};

use crate::dynamic::Channel;

fn role_name(role: i32) -> String {
    TokenRole::try_from(role)
        .map(|r| {
            r.as_str_name()
                .trim_start_matches("TOKEN_ROLE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| role.to_string())
}

fn line(token: &Token) -> String {
    let revoked = if token.revoke_time.is_some() {
        "  revoked"
    } else {
        ""
    };
    format!("{:<30}  {:<7}{revoked}", token.name, role_name(token.role))
}

fn status(error: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", error.code(), error.message())
}

/// Makes a token and prints its secret (shown only this once).
pub async fn create(channel: &Channel, id: &str, role: &str) -> anyhow::Result<()> {
    let role = TokenRole::from_str_name(&format!("TOKEN_ROLE_{}", role.to_ascii_uppercase()))
        .ok_or_else(|| anyhow::anyhow!("--role must be reader, writer or admin"))?;
    let made = TokenServiceClient::new(channel.clone())
        .create_token(CreateTokenRequest {
            token_id: id.to_owned(),
            token: Some(Token {
                role: role as i32,
                ..Default::default()
            }),
        })
        .await
        .map_err(status)?
        .into_inner();
    if let Some(token) = &made.token {
        eprintln!("{}", line(token));
    }
    println!("{}", made.secret);
    Ok(())
}

/// Lists every token (never their secrets).
pub async fn list(channel: &Channel) -> anyhow::Result<()> {
    let mut client = TokenServiceClient::new(channel.clone());
    let mut page_token = String::new();
    loop {
        let page = client
            .list_tokens(ListTokensRequest {
                page_size: 1000,
                page_token,
            })
            .await
            .map_err(status)?
            .into_inner();
        for token in &page.tokens {
            println!("{}", line(token));
        }
        if page.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = page.next_page_token;
    }
}

/// Revokes a token.
pub async fn revoke(channel: &Channel, name: &str) -> anyhow::Result<()> {
    let name = if name.starts_with("tokens/") {
        name.to_owned()
    } else {
        format!("tokens/{name}")
    };
    let token = TokenServiceClient::new(channel.clone())
        .revoke_token(RevokeTokenRequest { name })
        .await
        .map_err(status)?
        .into_inner();
    println!("{}", line(&token));
    Ok(())
}
