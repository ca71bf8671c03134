//! `/users/{id}/photo` (metadata) and `/users/{id}/photo/$value` (the image).

use serde_json::json;

use super::errors::{forbidden, image_not_found, not_found, Body, GraphResponse};
use super::graph::{has_any, Call};
use super::tenant::NoPhotoStyle;
use super::SimState;

const PHOTO_READ: &[&str] = &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "ProfilePhoto.Read.All"];

pub fn photo_meta(s: &mut SimState, call: &Call, key: &str) -> GraphResponse {
    if !has_any(s, PHOTO_READ) {
        return forbidden();
    }
    let Some(user) = s.tenant.find_user(key) else {
        return not_found(key);
    };
    let context = format!("{}/$metadata#users('{}')/photo/$entity", call.base, user.id);
    match (&user.photo, s.tenant.no_photo) {
        (Some(photo), _) => GraphResponse::json(
            200,
            json!({"@odata.context": context, "@odata.mediaContentType": "image/jpeg",
                "@odata.mediaEtag": photo.etag, "id": "240x240", "width": 240, "height": 240}),
        ),
        (None, NoPhotoStyle::Placeholder) => GraphResponse::json(
            200,
            json!({"@odata.context": context, "@odata.mediaContentType": "image/gif",
                "@odata.mediaEtag": "", "id": "1x1", "width": 1, "height": 1}),
        ),
        (None, NoPhotoStyle::NotFound) => image_not_found(),
    }
}

pub fn photo_value(s: &mut SimState, key: &str) -> GraphResponse {
    if !has_any(s, PHOTO_READ) {
        return forbidden();
    }
    let Some(user) = s.tenant.find_user(key) else {
        return not_found(key);
    };
    match &user.photo {
        Some(photo) => GraphResponse {
            status: 200,
            headers: vec![("ETag".into(), photo.etag.clone())],
            body: Body::Binary { content_type: "image/jpeg".into(), bytes: photo.bytes.clone() },
        },
        None => image_not_found(),
    }
}
