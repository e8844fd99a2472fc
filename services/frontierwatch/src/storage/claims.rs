//! The claims of several sources about one resource (`resource_claims`);
//! how they merge is the domain's (`domain::claims`).

use sqlx::PgConnection;

use super::error::{Operation, map_db_error};
use crate::domain::Resource;
use crate::domain::claims::Claim;
use crate::error::ApiError;

/// A stored claim: claimant, authority, the fields a settlement decides,
/// the encoded resource.
pub(super) type ClaimRow = (String, i16, Option<Vec<String>>, Vec<u8>);

/// Every claim about a resource, in no particular order.
pub async fn load<T: Resource>(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Vec<Claim<T>>, ApiError> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "SELECT claimant, authority, fields, data FROM resource_claims WHERE name = $1",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| map_db_error(e, Operation::Read, name))?;
    decode(name, rows)
}

/// Claims as stored, decoded.
pub(super) fn decode<T: Resource>(
    name: &str,
    rows: Vec<ClaimRow>,
) -> Result<Vec<Claim<T>>, ApiError> {
    rows.into_iter()
        .map(|(claimant, authority, fields, data)| {
            let resource = T::decode(data.as_slice()).map_err(|e| {
                ApiError::Internal(
                    anyhow::Error::new(e)
                        .context(format!("a stored claim on {name} does not decode")),
                )
            })?;
            Ok(Claim {
                claimant,
                authority,
                fields,
                resource,
            })
        })
        .collect()
}

/// Stores claims about a resource, each replacing the earlier claim of its
/// claimant.
pub async fn save<T: Resource>(
    conn: &mut PgConnection,
    name: &str,
    claims: &[&Claim<T>],
) -> Result<(), ApiError> {
    for claim in claims {
        sqlx::query(
            "INSERT INTO resource_claims (name, claimant, authority, fields, data) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name, claimant) DO UPDATE \
             SET authority = EXCLUDED.authority, fields = EXCLUDED.fields, data = EXCLUDED.data",
        )
        .bind(name)
        .bind(&claim.claimant)
        .bind(claim.authority)
        .bind(&claim.fields)
        .bind(claim.resource.encode_to_vec())
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db_error(e, Operation::Write, name))?;
    }
    Ok(())
}
