//! `roster sim entra <subcommand>`: change a running Entra simulator through its `/_sim/`
//! control API, as an admin would in the Entra portal, and watch a sync, a delta round or a
//! change notification pick the change up. Each prints one line, or the simulator's refusal
//! (and exits non-zero).

use anyhow::anyhow;
use clap::{Args, Subcommand};
use roster_sim::ControlClient;
use serde_json::{json, Map, Value};

#[derive(Subcommand)]
pub enum SimEntraCommand {
    /// Add a user, and put it in a group at once with --group.
    AddUser(AddUser),
    /// Set or clear Graph properties of a user: --set jobTitle=Engineer --set mobilePhone=
    EditUser(EditUser),
    /// Disable a user's account (accountEnabled=false).
    DisableUser(UserTarget),
    /// Enable a user's account again.
    EnableUser(UserTarget),
    /// Soft-delete a user: gone from listings and groups, restorable.
    DeleteUser(UserTarget),
    /// Restore a soft-deleted user, into the groups it was in.
    RestoreUser(UserTarget),
    /// Delete a user for good.
    PurgeUser(UserTarget),
    /// Move a user from one group to another.
    MoveUser(MoveUser),
    /// Remove every direct member of a group.
    EmptyGroup(GroupTarget),
    /// Show the simulated tenant's ids and size.
    Info(Sim),
}

#[derive(Args)]
pub struct Sim {
    /// Address of the running simulator (what `roster sim entra --listen` serves on).
    #[arg(long, default_value = "http://127.0.0.1:9100")]
    sim: String,
}

#[derive(Args)]
pub struct AddUser {
    #[arg(long)]
    given: String,
    #[arg(long)]
    surname: String,
    /// userPrincipalName (default: given.surname@ the tenant's domain).
    #[arg(long)]
    upn: Option<String>,
    /// Object ID (or display name) of a group to add the user to.
    #[arg(long)]
    group: Option<String>,
    #[command(flatten)]
    target: Sim,
}

#[derive(Args)]
pub struct EditUser {
    /// The user's object ID or userPrincipalName.
    user: String,
    /// A Graph property to set, NAME=VALUE; `NAME=` clears it. true/false become booleans and
    /// [..] / {..} JSON; anything else is a string. Repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE", required = true)]
    set: Vec<String>,
    #[command(flatten)]
    target: Sim,
}

#[derive(Args)]
pub struct UserTarget {
    /// The user's object ID or userPrincipalName.
    user: String,
    #[command(flatten)]
    target: Sim,
}

#[derive(Args)]
pub struct MoveUser {
    /// The user's object ID or userPrincipalName.
    user: String,
    /// The group it leaves (object ID or display name).
    #[arg(long)]
    from: String,
    /// The group it joins (object ID or display name).
    #[arg(long)]
    to: String,
    #[command(flatten)]
    target: Sim,
}

#[derive(Args)]
pub struct GroupTarget {
    /// The group's object ID or display name.
    group: String,
    #[command(flatten)]
    target: Sim,
}

/// `NAME=VALUE` as a Graph property: empty clears, true/false and JSON arrays or objects keep
/// their type, anything else is a string (so an employeeId of 123 stays "123").
fn property(pair: &str) -> anyhow::Result<(String, Value)> {
    let (name, raw) = pair.split_once('=').ok_or_else(|| anyhow!("'{pair}' is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(anyhow!("'{pair}' has no property name"));
    }
    let value = match raw {
        "" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if raw.starts_with('[') || raw.starts_with('{') => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())),
        _ => Value::String(raw.to_string()),
    };
    Ok((name.to_string(), value))
}

/// Path segments are ids, UPNs or group names: encode what a URL path cannot carry.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

async fn call(target: &Sim, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    ControlClient::new(&target.sim).call(method, path, body.as_ref()).await.map_err(|e| anyhow!("{e}"))
}

async fn user_action(args: &UserTarget, action: &str, done: &str) -> anyhow::Result<()> {
    let answer = call(&args.target, "POST", &format!("users/{}/{action}", segment(&args.user)), None).await?;
    println!("{done} {} ({}).", args.user, text(&answer, "id"));
    Ok(())
}

pub async fn run(cmd: SimEntraCommand) -> anyhow::Result<()> {
    match cmd {
        SimEntraCommand::AddUser(args) => {
            let mut body = json!({ "givenName": args.given, "surname": args.surname });
            if let Some(upn) = &args.upn {
                body["userPrincipalName"] = json!(upn);
            }
            if let Some(group) = &args.group {
                body["group"] = json!(group);
            }
            let answer = call(&args.target, "POST", "users", Some(body)).await?;
            let group = answer["group"].as_str().map(|g| format!(", in group {g}")).unwrap_or_default();
            println!("Added {} ({}){group}.", text(&answer, "userPrincipalName"), text(&answer, "id"));
        }
        SimEntraCommand::EditUser(args) => {
            let props: Map<String, Value> = args.set.iter().map(|p| property(p)).collect::<anyhow::Result<_>>()?;
            let answer = call(&args.target, "PATCH", &format!("users/{}", segment(&args.user)), Some(Value::Object(props))).await?;
            let changed: Vec<&str> = answer["changed"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            println!("Updated {} ({}): {}.", args.user, text(&answer, "id"), changed.join(", "));
        }
        SimEntraCommand::DisableUser(args) => user_action(&args, "disable", "Disabled").await?,
        SimEntraCommand::EnableUser(args) => user_action(&args, "enable", "Enabled").await?,
        SimEntraCommand::DeleteUser(args) => user_action(&args, "delete", "Soft-deleted").await?,
        SimEntraCommand::RestoreUser(args) => user_action(&args, "restore", "Restored").await?,
        SimEntraCommand::PurgeUser(args) => user_action(&args, "purge", "Deleted for good").await?,
        SimEntraCommand::MoveUser(args) => {
            let body = json!({ "from": args.from, "to": args.to });
            let answer = call(&args.target, "POST", &format!("users/{}/move", segment(&args.user)), Some(body)).await?;
            println!("Moved {} ({}) from {} to {}.", args.user, text(&answer, "id"), args.from, args.to);
        }
        SimEntraCommand::EmptyGroup(args) => {
            let answer = call(&args.target, "POST", &format!("groups/{}/empty", segment(&args.group)), None).await?;
            println!("Removed {} direct members from group {}.", answer["removed"].as_u64().unwrap_or_default(), text(&answer, "group"));
        }
        SimEntraCommand::Info(target) => {
            let info = call(&target, "GET", "info", None).await?;
            let count = |k: &str| info["counts"][k].as_u64().unwrap_or_default();
            println!(
                "Tenant {} (client {}), group {}: {} users ({} soft-deleted), {} groups, {} subscriptions, {} notifications pending.",
                text(&info, "tenantId"),
                text(&info, "clientId"),
                text(&info, "topGroupId"),
                count("users"),
                count("deletedUsers"),
                count("groups"),
                count("subscriptions"),
                count("pendingNotifications"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_keep_their_types() {
        assert_eq!(property("jobTitle=Engineer").ok(), Some(("jobTitle".to_string(), json!("Engineer"))));
        assert_eq!(property("mobilePhone=").ok(), Some(("mobilePhone".to_string(), Value::Null)));
        assert_eq!(property("accountEnabled=false").ok(), Some(("accountEnabled".to_string(), json!(false))));
        assert_eq!(property("employeeId=123").ok(), Some(("employeeId".to_string(), json!("123"))));
        assert_eq!(property("businessPhones=[\"+44 1\"]").ok(), Some(("businessPhones".to_string(), json!(["+44 1"]))));
        assert_eq!(property("displayName=a=b").ok(), Some(("displayName".to_string(), json!("a=b"))));
        assert!(property("novalue").is_err() && property("=x").is_err());
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("ada.lovelace@sim.onmicrosoft.com"), "ada.lovelace%40sim.onmicrosoft.com");
        assert_eq!(segment("All Staff (Roster)"), "All%20Staff%20%28Roster%29");
    }
}
