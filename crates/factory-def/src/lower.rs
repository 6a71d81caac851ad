//! Lowering: turns a raw definition that passed every check into the domain types.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{packaged_components, produced_packages};
use crate::model::{
    BuiltinKind, Cadence, Channel, Component, ComponentStream, DEFAULT_EOL_WARNING, DebPackage,
    Definition, Hook, HookAction, Image, ImageBase, Kind, Module, ModuleStream, Policy, Product,
    ProductStream, Profile, Recipe, Source, TarballSpec, Test,
};
use crate::source::Sources;
use crate::template::{self, Template};
use crate::wire::{
    L, Pairs, RawBase, RawCadence, RawChannel, RawComponent, RawDeb, RawDefinition, RawHook,
    RawHookAction, RawImage, RawKind, RawModule, RawOpaque, RawProduct, RawSource,
};

/// Only called on a definition without problems.
pub(crate) fn lower(sources: &Sources, raw: RawDefinition) -> Definition {
    let packaged = packaged_components(&raw);
    let mut def = Definition {
        files: sources.files.iter().map(|f| f.name.clone()).collect(),
        ..Definition::default()
    };
    // Kinds before components (a recipe takes its kind's parameters), components before
    // modules (a derived build order follows their build inputs).
    for k in raw.kinds {
        let kind = lower_kind(sources, k);
        def.kinds.insert(kind.name.clone(), kind);
    }
    for c in raw.components {
        let component = lower_component(sources, c, &def.kinds, &packaged);
        def.components.insert(component.name.clone(), component);
    }
    for m in raw.modules {
        let module = lower_module(sources, m, &def);
        def.modules.insert(module.name.clone(), module);
    }
    for i in raw.images {
        let image = lower_image(sources, i);
        def.images.insert(image.name.clone(), image);
    }
    for p in raw.products {
        let product = lower_product(sources, p);
        def.products.insert(product.name.clone(), product);
    }
    for h in raw.hooks {
        // A hook without an action was reported; a definition with problems is not lowered.
        if let Some(hook) = lower_hook(sources, h) {
            def.hooks.insert(hook.name.clone(), hook);
        }
    }
    for t in raw.tests {
        let (name, origin, description, fields) = lower_opaque(sources, t);
        def.tests.insert(
            name.clone(),
            Test {
                name,
                origin,
                description,
                fields,
            },
        );
    }
    for p in raw.policies {
        let (name, origin, description, fields) = lower_opaque(sources, p);
        def.policies.insert(
            name.clone(),
            Policy {
                name,
                origin,
                description,
                fields,
            },
        );
    }
    def
}

fn lower_kind(sources: &Sources, k: RawKind) -> Kind {
    Kind {
        origin: sources.origin(&k.name.at),
        description: text(k.description),
        commands: k.commands.iter().filter_map(parse_template).collect(),
        outputs: values(k.outputs),
        network: k.network,
        timeout: k.timeout,
        env: template_map(&k.env),
        params: map(k.params),
        name: k.name.value,
    }
}

fn lower_component(
    sources: &Sources,
    c: RawComponent,
    kinds: &BTreeMap<String, Kind>,
    packaged: &BTreeSet<String>,
) -> Component {
    let recipe = lower_recipe(&c, kinds);
    let packages = produced_packages(&c, packaged)
        .into_iter()
        .map(|l| l.value)
        .collect();
    Component {
        origin: sources.origin(&c.name.at),
        description: text(c.description),
        version: text(c.version),
        source: c.source.map(lower_source),
        recipe,
        build_requires: values(c.build_requires),
        requires: values(c.requires),
        owners: values(c.owners),
        packages,
        streams: c
            .streams
            .into_iter()
            .map(|s| {
                let stream = ComponentStream {
                    name: s.name.value,
                    source: s.source.map(lower_source),
                    version: text(s.version),
                };
                (stream.name.clone(), stream)
            })
            .collect(),
        env: template_map(&c.env),
        name: c.name.value,
    }
}

/// `def` already holds every component: a module without `build-order` gets one derived
/// from their build inputs.
fn lower_module(sources: &Sources, m: RawModule, def: &Definition) -> Module {
    let components = values(m.components);
    let build_order = match m.build_order {
        Some(order) => order.into_iter().map(values).collect(),
        None => derive_build_order(&components, def),
    };
    Module {
        origin: sources.origin(&m.name.at),
        description: text(m.description),
        components,
        build_order,
        streams: m
            .streams
            .into_iter()
            .map(|s| {
                let stream = ModuleStream {
                    name: s.name.value,
                    description: text(s.description),
                    components: map(s.components),
                };
                (stream.name.clone(), stream)
            })
            .collect(),
        profiles: m
            .profiles
            .into_iter()
            .map(|p| {
                let profile = Profile {
                    name: p.name.value,
                    description: text(p.description),
                    packages: values(p.packages),
                };
                (profile.name.clone(), profile)
            })
            .collect(),
        name: m.name.value,
    }
}

fn lower_image(sources: &Sources, i: RawImage) -> Image {
    Image {
        origin: sources.origin(&i.name.at),
        description: text(i.description),
        base: match i.base {
            Some(RawBase::Image(name)) => ImageBase::Image(name.value),
            Some(RawBase::OciLayout(path)) => ImageBase::OciLayout(path.value.into()),
            Some(RawBase::Scratch) | None => ImageBase::Scratch,
        },
        packages: values(i.packages),
        components: values(i.components),
        entrypoint: values(i.entrypoint),
        cmd: values(i.cmd),
        env: map(i.env),
        labels: map(i.labels),
        name: i.name.value,
    }
}

fn lower_product(sources: &Sources, p: RawProduct) -> Product {
    Product {
        origin: sources.origin(&p.name.at),
        description: text(p.description),
        images: values(p.images),
        modules: values(p.modules),
        components: values(p.components),
        streams: p
            .streams
            .into_iter()
            .filter_map(|s| {
                let stream = ProductStream {
                    end_of_life: s.end_of_life?,
                    eol_warning: s.eol_warning.unwrap_or(DEFAULT_EOL_WARNING),
                    channels: lower_channels(s.channels),
                    name: s.name.value,
                    description: text(s.description),
                    modules: map(s.modules),
                };
                Some((stream.name.clone(), stream))
            })
            .collect(),
        name: p.name.value,
    }
}

/// The channels in release order: those that age nothing first, then each after the one it
/// ages in (the definition's tables carry no order of their own); by name within a step.
fn lower_channels(raw: Vec<RawChannel>) -> Vec<Channel> {
    let mut channels: Vec<Channel> = raw
        .into_iter()
        .filter_map(|c| {
            let release = match c.release? {
                RawCadence::OnGreen => Cadence::OnGreen,
                RawCadence::Manual => Cadence::Manual,
                RawCadence::Schedule(cron) => Cadence::Schedule(cron.value),
                RawCadence::After { age, channel } => Cadence::After {
                    age,
                    channel: channel.value,
                },
            };
            Some(Channel {
                name: c.name.value,
                description: text(c.description),
                release,
                gate: c.gate.map(|g| g.value),
            })
        })
        .collect();
    if channels.is_empty() {
        return vec![Channel {
            name: "stable".into(),
            description: None,
            release: Cadence::Manual,
            gate: None,
        }];
    }
    let depth = |name: &str| {
        let mut depth = 0;
        let mut at = name.to_string();
        while let Some(Cadence::After { channel, .. }) =
            channels.iter().find(|c| c.name == at).map(|c| &c.release)
        {
            depth += 1;
            at = channel.clone();
            if depth > channels.len() {
                break;
            }
        }
        depth
    };
    let depths: Vec<usize> = channels.iter().map(|c| depth(&c.name)).collect();
    let mut ordered: Vec<(usize, Channel)> = depths.into_iter().zip(channels.drain(..)).collect();
    ordered.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    ordered.into_iter().map(|(_, c)| c).collect()
}

fn lower_hook(sources: &Sources, h: RawHook) -> Option<Hook> {
    let action = match h.action? {
        RawHookAction::Command { argv, network } => HookAction::Command {
            argv: values(argv),
            network,
        },
        RawHookAction::Post { url, headers } => HookAction::Post {
            url: url.value,
            headers: map(headers),
        },
    };
    Some(Hook {
        origin: sources.origin(&h.name.at),
        description: text(h.description),
        on: values(h.on),
        components: values(h.components),
        action,
        timeout: h.timeout,
        tries: h.tries,
        name: h.name.value,
    })
}

type Opaque = (
    String,
    crate::model::Origin,
    Option<String>,
    BTreeMap<String, toml::Value>,
);

fn lower_opaque(sources: &Sources, raw: RawOpaque) -> Opaque {
    (
        raw.name.value,
        sources.origin(&raw.name.at),
        text(raw.description),
        raw.fields,
    )
}

fn lower_recipe(c: &RawComponent, kinds: &BTreeMap<String, Kind>) -> Recipe {
    let kind = c.kind.as_ref().map_or("command", |k| k.value.as_str());
    match BuiltinKind::from_name(kind) {
        Some(BuiltinKind::Deb) => {
            let deb = c.deb.as_ref();
            let field = |f: fn(&RawDeb) -> &Option<L<String>>| {
                deb.and_then(|d| f(d).as_ref()).map(|l| l.value.clone())
            };
            let list = |f: fn(&RawDeb) -> &Vec<L<String>>| {
                deb.map(|d| f(d).iter().map(|l| l.value.clone()).collect())
                    .unwrap_or_default()
            };
            Recipe::Deb(Box::new(DebPackage {
                from: field(|d| &d.from).unwrap_or_default(),
                package: field(|d| &d.package).unwrap_or_else(|| c.name.value.clone()),
                version: field(|d| &d.version)
                    .or_else(|| text(c.version.clone()))
                    .unwrap_or_default(),
                architecture: field(|d| &d.architecture).unwrap_or_default(),
                maintainer: field(|d| &d.maintainer),
                description: field(|d| &d.description)
                    .or_else(|| text(c.description.clone()))
                    .unwrap_or_default(),
                section: field(|d| &d.section),
                priority: field(|d| &d.priority),
                depends: list(|d| &d.depends),
                pre_depends: list(|d| &d.pre_depends),
                provides: list(|d| &d.provides),
                conflicts: list(|d| &d.conflicts),
                prefix: field(|d| &d.prefix).unwrap_or_else(|| "/usr".to_string()),
            }))
        }
        Some(BuiltinKind::Tarball) => {
            let t = c.tarball.as_ref();
            Recipe::Tarball(TarballSpec {
                from: t
                    .and_then(|t| t.from.as_ref())
                    .map(|l| l.value.clone())
                    .unwrap_or_default(),
                prefix: t
                    .and_then(|t| t.prefix.as_ref())
                    .map(|l| l.value.clone())
                    .unwrap_or_default(),
            })
        }
        Some(BuiltinKind::Command | BuiltinKind::OciImage) => Recipe::Command {
            commands: c
                .commands
                .iter()
                .flat_map(|(cmds, _)| cmds)
                .filter_map(parse_template)
                .collect(),
            outputs: c
                .outputs
                .iter()
                .flat_map(|(outs, _)| outs)
                .map(|l| l.value.clone())
                .collect(),
        },
        None => {
            let mut params = kinds
                .get(kind)
                .map(|k| k.params.clone())
                .unwrap_or_default();
            params.extend(
                c.params
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.clone())),
            );
            Recipe::Kind {
                kind: kind.to_string(),
                params,
            }
        }
    }
}

fn lower_source(source: RawSource) -> Source {
    match source {
        RawSource::Path(p) => Source::Path(p.value.into()),
        RawSource::Git { url, rev } => Source::Git {
            url: url.value,
            rev: rev.value,
        },
        RawSource::Tarball { url, sha256 } => Source::Tarball {
            url: url.value,
            sha256: sha256.value,
        },
    }
}

/// Batches by depth: a component goes one batch after the deepest module member it needs.
fn derive_build_order(members: &[String], def: &Definition) -> Vec<Vec<String>> {
    let member_set: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    // Acyclic (checked), so each pass fixes at least one more component.
    for _ in 0..=members.len() {
        for name in members {
            if depth.contains_key(name.as_str()) {
                continue;
            }
            let Some(c) = def.components.get(name) else {
                continue;
            };
            let deps: Vec<&str> = c
                .build_inputs()
                .filter(|d| member_set.contains(d))
                .collect();
            if deps.iter().all(|d| depth.contains_key(d)) {
                let d = deps.iter().map(|d| depth[d] + 1).max().unwrap_or(0);
                depth.insert(name, d);
            }
        }
    }
    let mut batches: Vec<Vec<String>> = Vec::new();
    for (name, d) in depth {
        if batches.len() <= d {
            batches.resize(d + 1, Vec::new());
        }
        batches[d].push(name.to_string());
    }
    batches
}

fn parse_template(text: &L<String>) -> Option<Template> {
    template::parse(&text.value).ok()
}

fn template_map(pairs: &Pairs) -> BTreeMap<String, Template> {
    pairs
        .iter()
        .filter_map(|(k, v)| Some((k.value.clone(), parse_template(v)?)))
        .collect()
}

fn text(value: Option<L<String>>) -> Option<String> {
    value.map(|l| l.value)
}

fn values(list: Vec<L<String>>) -> Vec<String> {
    list.into_iter().map(|l| l.value).collect()
}

fn map(pairs: Pairs) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.value, v.value)).collect()
}
