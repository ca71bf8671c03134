//! Profile photos. Photo changes never show in Graph's change tracking, so each run compares
//! the photo's mediaEtag with the one stored beside the avatar and downloads only what changed;
//! a photo removed in Entra removes the avatar.

use chrono::{DateTime, Utc};
use roster_core::{OrgId, UserId};
use roster_entra::{BatchRequest, GraphClient, PhotoMeta, MAX_BATCH};
use roster_store::{Avatar, Store};
use std::collections::{BTreeMap, HashMap};

use super::progress::{ProgressSink, SyncProgress};
use super::SyncError;

/// What the photo metadata says must change.
#[derive(Debug, Default)]
pub(crate) struct PhotoWork {
    /// (person, Graph user id, the etag being downloaded)
    pub downloads: Vec<(UserId, String, String)>,
    pub removals: Vec<UserId>,
}

pub(crate) fn plan_photos(
    metas: &BTreeMap<String, Option<PhotoMeta>>,
    people: &HashMap<String, UserId>,
    stored: &HashMap<UserId, String>,
) -> PhotoWork {
    let mut work = PhotoWork::default();
    for (graph_id, meta) in metas {
        let Some(person) = people.get(graph_id) else { continue };
        match (meta, stored.get(person)) {
            (Some(meta), Some(etag)) if *etag == meta.etag => {}
            (Some(meta), _) => work.downloads.push((*person, graph_id.clone(), meta.etag.clone())),
            (None, Some(_)) => work.removals.push(*person),
            (None, None) => {}
        }
    }
    work
}

pub(crate) struct PhotoContext<'a> {
    pub client: &'a GraphClient,
    pub store: &'a dyn Store,
    pub org: OrgId,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// Downloads and stores changed photos a few batches at a time (so memory stays bounded),
/// then removes avatars whose photo is gone. Returns (stored, removed).
pub(crate) async fn apply_photos(
    ctx: &PhotoContext<'_>,
    work: &PhotoWork,
    progress: &dyn ProgressSink,
    state: &mut SyncProgress,
) -> Result<(usize, usize), SyncError> {
    let (mut stored, mut removed) = (0, 0);
    for chunk in work.downloads.chunks(MAX_BATCH * 5) {
        let requests: Vec<BatchRequest> = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, graph_id, _))| BatchRequest::get(i.to_string(), format!("/users/{graph_id}/photo/$value")))
            .collect();
        let answers = ctx.client.batch(&requests).await?;
        for (i, (person, graph_id, etag)) in chunk.iter().enumerate() {
            let Some(answer) = answers.get(&i.to_string()) else {
                return Err(SyncError::Graph(roster_entra::GraphError::InvalidResponse(format!("no answer for the photo of {graph_id}"))));
            };
            match answer.status {
                // Removed between the metadata check and now: the next run sees it gone.
                404 => continue,
                _ if answer.ok() => {}
                status => {
                    return Err(SyncError::Graph(roster_entra::GraphError::Rejected {
                        status,
                        code: "photo".into(),
                        message: format!("the photo of user {graph_id} could not be downloaded"),
                    }))
                }
            }
            // A body that is not base64 is no photo: the avatar stays as it was, and the next run
            // tries again (the new ETag is stored only with the image).
            let Some(bytes) = answer.binary_body() else { continue };
            let content_type = answer.header("content-type").unwrap_or("image/jpeg").to_owned();
            let avatar = Avatar { etag: etag.clone(), content_type, bytes, updated_at: ctx.now };
            ctx.store.put_avatar(ctx.org, *person, &avatar, ctx.actor).await?;
            stored += 1;
        }
        state.photos_downloaded += chunk.len();
        state.graph_requests = ctx.client.graph_requests();
        progress.report(state).await;
    }
    for person in &work.removals {
        if ctx.store.remove_avatar(ctx.org, *person, ctx.actor, ctx.now).await? {
            removed += 1;
        }
    }
    Ok((stored, removed))
}
