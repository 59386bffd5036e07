#!/usr/bin/env python3
"""Writes fuzz/seeds/: realistic files, each prefixed with the selector byte the target reads.

Selector byte b: update set = b % 5, file name = (b // 5) % 3 (see fuzz_targets/set_image.rs).
Re-run after editing: python3 fuzz/make_seeds.py
"""
import os

UPDATES = ["shop/cart=v2", "shop/cart=1234567", "nginx=1.27@sha256:…", "ghcr.io/acme/cart=2024-01-02",
           "shop/cart=v2 + nginx=1.27@sha256:…"]
FILES = ["values.yaml", "kustomization.yaml", "app.yaml"]


def selector(update, file):
    for b in range(0x21, 0x7f):
        if b % 5 == update and (b // 5) % 3 == file:
            return bytes([b])
    raise ValueError


SEEDS = {
    "01-deployment": (4, 2, """apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "shop/cart:v1"
      containers:
        - name: cart
          image: shop/cart:v1 # app
          env:
            - name: SIDECAR
              value: docker.io/library/nginx:1.25@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        - name: proxy
          image: 'nginx'
          args: ["--image=shop/cart:v1"]
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: job, image: shop/cart:v0}
"""),
    "02-kustomization-images": (2, 1, """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: shop/api
    newTag: v3
  - name: nginx
  - name: shop/cart
    newName: ghcr.io/acme/cart # moved
  - name: redis
    newName: nginx
    newTag: "1.25"
    digest: sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
labels:
  - pairs:
      app: shop
"""),
    "03-helm-values": (3, 0, """image:
  registry: ghcr.io
  repository: acme/cart
  tag: v1
  digest: ''
  pullPolicy: IfNotPresent
worker:
  image:
    repository: ghcr.io/acme/cart
    tag: 1.10
sidecar:
  name: ghcr.io/acme/cart
  tag: "v1"
chart:
  deps:
    - name: redis
      image: {repository: ghcr.io/acme/cart, tag: ~}
"""),
    "04-helm-parameters": (1, 2, """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: cart
spec:
  source:
    helm:
      parameters:
        - name: image.registry
          value: docker.io
        - name: image.repository
          value: shop/cart
        - name: image.tag
          value: "v1"
        - name: image.digest
          value: sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
        - {name: worker.name, value: shop/cart}
        - {name: worker.tag, value: v1}
    kustomize:
      images:
        - shop/cart=shop/cart:v1
        - old/cart=shop/cart:v1@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
"""),
    "05-block-scalars": (0, 2, """apiVersion: argoproj.io/v1alpha1
kind: Application
spec:
  source:
    helm:
      values: |
        image:
          repository: shop/cart
          tag: v1
      valuesObject:
        image:
          repository: shop/cart
          tag: v1
  notes: >-
    deploys shop/cart:v1
    and more
  image: |
    shop/cart:v1
"""),
    "06-anchors-aliases": (0, 0, """common: &img shop/cart:v1
api:
  image: *img
web:
  image: shop/cart:v1
defaults: &defaults
  repository: shop/cart
  tag: v1
other:
  image: *defaults
list: &l
  - shop/cart:v1
copy: *l
"""),
    "07-merge-keys": (3, 0, """imageDefaults: &imageDefaults
  registry: ghcr.io
  repository: acme/cart
  pullPolicy: IfNotPresent
api:
  image:
    <<: *imageDefaults
    tag: v1
worker:
  image:
    <<: [*imageDefaults, {tag: v0}]
shared: &shared {repository: ghcr.io/acme/cart, tag: v1}
job:
  image:
    <<: *shared
"""),
    "08-flow-mappings": (4, 1, """kind: Kustomization
images: [{name: shop/cart, newTag: v1}, {name: nginx}, {name: "shop/cart-worker", newTag: v1}]
helm: {image: {repository: shop/cart, tag: v1}, extra: [shop/cart:v1, 'nginx:1.25']}
resources: [a.yaml, b.yaml]
"""),
    "09-crlf-kustomization": (4, 1, "images:\r\n  - name: shop/cart  # app\r\n  - name: nginx\r\n    newName: nginx\r\n"),
    "10-bom-multidoc": (0, 2, "\ufeffapiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: shop/cart:v1\n---\n# second\nimage:\n  repository: shop/cart\n  tag: v1\n...\n---\nimages:\n- name: shop/cart\n  newTag: v1\n"),
    "11-setter-comments": (0, 0, """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image:
      repository: ghcr.io/shop/cart # {"$imagepolicy": "flux-system:cart:name"}
      tag: v1 # {"$imagepolicy": "flux-system:cart:tag"}
    other: shop/cart:v1 # {"$imagepolicy": "flux-system:cart2"}
    otherTag: "v1" # {"$imagepolicy": "flux-system:cart2:tag"}
    digest: sha256:eeee # {"$imagepolicy": "flux-system:cart2:digest"}
"""),
    "12-helmfile-templates": (1, 0, """releases:
  - name: cart
    chart: shop/cart
    set:
      - name: image.repository
        value: shop/cart
      - name: image.tag
        value: v1
    values:
      - image:
          repository: shop/cart
          tag: {{ .Values.tag }}
  - name: templ
    values:
      - image: "shop/cart:{{ .Env.TAG }}"
"""),
    "13-scalar-styles": (1, 2, """a:
  image: 'shop/cart:v1'
b:
  image: "shop/cart:v1"
c:
  image:
    shop/cart:v1
d:
  image: shop/cart
e:
  image: !!str shop/cart:v1
f:
  image: shop/cart:v1
    continued
g: {repository: shop/cart, tag: 'it''s'}
h: {repository: shop/cart, tag: "\\tv1"}"""),
    "14-kustomization-eof-no-newline": (2, 1, "kind: Kustomization\nimages:\n- name: nginx\n  newName: docker.io/library/nginx"),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
os.makedirs(here, exist_ok=True)
for name, (update, file, body) in SEEDS.items():
    data = selector(update, file) + body.encode("utf-8")
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
    print(f"{name}: {UPDATES[update]} in {FILES[file]}")
