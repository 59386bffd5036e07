//! The sample values templates are rendered with: what a bump, a change request or a preview
//! of this repository would give them.

use std::collections::BTreeMap;

use crate::clock::Time;
use crate::commands::change_request;
use crate::config::{Config, ResolvedEnvironment, Update};
use crate::image::ImageName;
use crate::inventory::Inventory;
use crate::preview::{
    self, PreviewChangeRequest, PreviewContext, PreviewDeploy, PreviewImage, PreviewSource,
    Template,
};
use crate::render::{ChangeRequestContext, MessageContext, MessageImage, Trailer};
use crate::trailers;

/// The tag samples are set to: a short commit id.
pub(super) const SAMPLE_TAG: &str = "9d8c7b6";
/// Images used when an environment has too few of its own, with their previous tags.
pub(super) const SAMPLE_IMAGES: &[(&str, &str)] = &[
    ("ghcr.io/acme/cart", "1a2b3c4"),
    ("ghcr.io/acme/web", "v1.4.2"),
];
pub(super) const SAMPLE_APP: &str = "https://gitlab.com/acme/shop";
pub(super) const SAMPLE_ENV_REPO: &str = "https://gitlab.com/acme/env.git";
pub(super) const SAMPLE_COMMIT: &str = "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a";
pub(super) const SAMPLE_BRANCH: &str = "feature/login";
pub(super) const SAMPLE_CHANGE_REQUEST: u64 = 42;
pub(super) const SAMPLE_RUN: u64 = 1234;
pub(super) const SAMPLE_TIME: &str = "2026-01-15T09:30:00Z";

/// What a bump of `n` images of `environment` would give a commit-message template: its own
/// images (with their current tags) when it has them.
pub(super) fn message_context(
    environment: &ResolvedEnvironment,
    inventory: &Inventory,
    n: usize,
) -> MessageContext {
    let mut images: Vec<MessageImage> = inventory
        .images
        .values()
        .take(n)
        .map(|d| MessageImage {
            short: ImageName::parse(&d.image).map_or_else(|_| d.image.clone(), |i| i.familiar()),
            name: d.image.clone(),
            from: match d.version().as_str() {
                "-" => "(new)".to_owned(),
                v => v.to_owned(),
            },
            to: SAMPLE_TAG.to_owned(),
        })
        .collect();
    for (name, from) in SAMPLE_IMAGES {
        if images.len() >= n {
            break;
        }
        if !images.iter().any(|i| i.name == *name) {
            images.push(MessageImage {
                name: (*name).to_owned(),
                short: name.rsplit('/').next().unwrap_or(name).to_owned(),
                from: (*from).to_owned(),
                to: SAMPLE_TAG.to_owned(),
            });
        }
    }
    let trailer = |key: &str, value: String| Trailer {
        key: key.to_owned(),
        value,
    };
    let mut trailers = vec![
        trailer(trailers::SOURCE_REPO, SAMPLE_APP.to_owned()),
        trailer(trailers::SOURCE_COMMIT, SAMPLE_COMMIT.to_owned()),
        trailer(trailers::SOURCE_REF, SAMPLE_BRANCH.to_owned()),
        trailer(
            trailers::RUN_URL,
            format!("{SAMPLE_APP}/-/pipelines/{SAMPLE_RUN}"),
        ),
        trailer(trailers::RUN_NUMBER, SAMPLE_RUN.to_string()),
        trailer(trailers::CHANGE_REQUEST, SAMPLE_CHANGE_REQUEST.to_string()),
    ];
    if environment.update == Update::PullRequest {
        trailers.push(trailer(trailers::PATH, environment.path.clone()));
        for image in &images {
            trailers.push(trailer(
                trailers::UPDATE,
                format!("{}={}", image.name, image.to),
            ));
        }
    }
    MessageContext {
        environment: environment.name.clone(),
        path: environment.path.clone(),
        branch: environment.branch.clone(),
        changes: images.len(),
        files: 1,
        images,
        trailers,
    }
}

/// What a change request's title and description templates get for `message`.
pub(super) fn change_request_context(message: &MessageContext) -> ChangeRequestContext {
    let names: Vec<ImageName> = message
        .images
        .iter()
        .filter_map(|i| ImageName::parse(&i.name).ok())
        .collect();
    let head = change_request::head_branch(&message.environment, &names.iter().collect::<Vec<_>>());
    ChangeRequestContext {
        message: message.clone(),
        change_request: "merge request".to_owned(),
        marker: change_request::marker(&head),
        head_branch: head,
        source_repo: Some(SAMPLE_APP.to_owned()),
        source_commit: Some(SAMPLE_COMMIT.to_owned()),
        source_commit_url: Some(format!("{SAMPLE_APP}/-/commit/{SAMPLE_COMMIT}")),
        source_ref: Some(SAMPLE_BRANCH.to_owned()),
        run_url: Some(format!("{SAMPLE_APP}/-/pipelines/{SAMPLE_RUN}")),
    }
}

/// What `ferry preview up` would give the template for merge request !42 of `feature/login`.
pub(super) fn preview_context(
    config: &Config,
    template: &Template<'_>,
    branch: &str,
    deploy_path: String,
    images: Vec<(String, String)>,
) -> PreviewContext {
    let settings = &config.previews;
    let (slug, namespace, release) = preview::names(
        SAMPLE_BRANCH,
        &settings.prefix,
        settings.namespace_limit as usize,
        settings.release_limit as usize,
    );
    let updated = Time::parse(SAMPLE_TIME).unwrap_or_else(|_| Time::from_unix(0));
    let expires = updated.after(std::time::Duration::from(settings.ttl));
    PreviewContext {
        name: SAMPLE_BRANCH.to_owned(),
        agent_namespace: settings
            .agent_namespace
            .clone()
            .unwrap_or_else(|| template.default_agent_namespace().to_owned()),
        prefix: settings.prefix.clone(),
        reserved: preview::reserved_of(config),
        change_request: Some(PreviewChangeRequest {
            number: SAMPLE_CHANGE_REQUEST,
            project: Some(SAMPLE_APP.to_owned()),
            url: Some(format!(
                "{SAMPLE_APP}/-/merge_requests/{SAMPLE_CHANGE_REQUEST}"
            )),
            title: Some("Add the login page".to_owned()),
            author: Some("alice".to_owned()),
        }),
        source: PreviewSource {
            repo: Some(SAMPLE_APP.to_owned()),
            commit: Some(SAMPLE_COMMIT.to_owned()),
            branch: Some(SAMPLE_BRANCH.to_owned()),
        },
        deploy: PreviewDeploy {
            repo: settings
                .deploy
                .repo
                .clone()
                .unwrap_or_else(|| SAMPLE_ENV_REPO.to_owned()),
            revision: settings
                .deploy
                .revision
                .clone()
                .unwrap_or_else(|| branch.to_owned()),
            path: deploy_path,
            images: settings.deploy.images.as_str().to_owned(),
        },
        images: images
            .into_iter()
            .filter_map(|(name, tag)| {
                let image = ImageName::parse(&name).ok()?;
                Some(PreviewImage::new(&image, &tag, None))
            })
            .collect(),
        values: BTreeMap::new(),
        url: settings
            .url
            .as_ref()
            .map(|pattern| pattern.replace("{slug}", &slug)),
        expires_at: expires.to_string(),
        updated_at: updated.to_string(),
        slug,
        namespace,
        release,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::render;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new(crate::config::FILE_NAME)).expect("valid")
    }

    const TWO_BRANCHES: &str = "version: 1\nenvironments:\n  staging:\n    path: envs/staging\n  production:\n    path: envs/production\n    branch: production\n";

    #[test]
    fn samples_use_the_environments_own_images() {
        let mut environment = config(TWO_BRANCHES)
            .environment("production")
            .expect("defined");
        environment.update = Update::PullRequest;
        let inventory = Inventory::of_files(
            "envs/production",
            [(
                "kustomization.yaml",
                &b"images:\n  - name: ghcr.io/acme/pay\n    newTag: v2.0.1\n"[..],
            )],
        );
        let two = message_context(&environment, &inventory, 2);
        let images: Vec<(&str, &str, &str)> = two
            .images
            .iter()
            .map(|i| (i.name.as_str(), i.from.as_str(), i.to.as_str()))
            .collect();
        assert_eq!(
            images,
            [
                ("ghcr.io/acme/pay", "v2.0.1", SAMPLE_TAG),
                ("ghcr.io/acme/cart", "1a2b3c4", SAMPLE_TAG)
            ]
        );
        assert!(
            two.trailers
                .iter()
                .any(|t| t.key == trailers::PATH && t.value == "envs/production")
        );
        let message = render::commit_message(None, &message_context(&environment, &inventory, 1))
            .expect("renders");
        assert!(
            message.starts_with("production: bump ghcr.io/acme/pay to 9d8c7b6\n"),
            "{message}"
        );
        let request = change_request_context(&two);
        assert!(request.head_branch.starts_with("ferry/production/"));
        assert!(request.marker.contains(&request.head_branch));
    }
}
