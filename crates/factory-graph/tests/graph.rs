//! Small hand-made graphs whose answers can be checked by eye.

use factory_graph::{Alternatives, EdgeKind, Graph, GraphBuilder, Mode, NodeKind, affected, plan};

/// Sources a, b, c, d, e with binaries a1…; `b` build-depends on `a1 | x1`,
/// `c` on b1, `d` on c1, c1 depends at run time on a1, `e` and `d` form a
/// build cycle through d1/e1, an image contains d1, a product the image.
fn sample() -> Graph {
    let mut g = GraphBuilder::new("test");
    let src = |g: &mut GraphBuilder, name: &str| {
        let s = g.node(NodeKind::Source, name);
        let b = g.node(NodeKind::Binary, &format!("{name}1"));
        g.set_built_from(b, s);
        (s, b)
    };
    let (_, a1) = src(&mut g, "a");
    let (b, b1) = src(&mut g, "b");
    let (c, c1) = src(&mut g, "c");
    let (d, d1) = src(&mut g, "d");
    let (e, e1) = src(&mut g, "e");
    let (_, x1) = src(&mut g, "x");
    g.add_clause(b, EdgeKind::BuildRequires, vec![vec![a1], vec![x1]]);
    g.add_clause(c, EdgeKind::BuildRequires, vec![vec![b1]]);
    g.add_clause(c1, EdgeKind::Requires, vec![vec![a1]]);
    g.add_clause(d, EdgeKind::BuildRequires, vec![vec![c1], vec![]]);
    g.add_clause(d, EdgeKind::BuildRequires, vec![vec![e1]]);
    g.add_clause(e, EdgeKind::BuildRequires, vec![vec![d1]]);
    let image = g.node(NodeKind::Image, "img");
    g.add_clause(image, EdgeKind::Contains, vec![vec![d1]]);
    let product = g.node(NodeKind::Product, "prod");
    g.add_clause(product, EdgeKind::Contains, vec![vec![image]]);
    g.finish()
}

fn names(g: &Graph, nodes: &[u32]) -> Vec<String> {
    nodes.iter().map(|&n| g.name(n).to_owned()).collect()
}

fn query(
    g: &Graph,
    name: &str,
    kind: NodeKind,
    mode: Mode,
    alternatives: Alternatives,
) -> Vec<String> {
    let node = g.find(kind, name).expect("node exists");
    names(g, &affected(g, &g.reverse(alternatives), &[node], mode))
}

#[test]
fn modes_on_a_binary() {
    let g = sample();
    let all = Alternatives::All;
    assert_eq!(query(&g, "a1", NodeKind::Binary, Mode::Direct, all), ["b"]);
    // d's build environment holds c1, which depends on a1.
    assert_eq!(
        query(&g, "a1", NodeKind::Binary, Mode::Closure, all),
        ["b", "d"]
    );
    assert_eq!(
        query(&g, "a1", NodeKind::Binary, Mode::Transitive, all),
        ["b", "c", "d", "e", "img", "prod"]
    );
    assert_eq!(query(&g, "a1", NodeKind::Binary, Mode::Local, all), ["a"]);
    // Through x1, b is reached only when every alternative counts.
    assert_eq!(query(&g, "x1", NodeKind::Binary, Mode::Direct, all), ["b"]);
    assert!(
        query(
            &g,
            "x1",
            NodeKind::Binary,
            Mode::Direct,
            Alternatives::First
        )
        .is_empty()
    );
}

#[test]
fn a_changed_source_is_rebuilt_itself() {
    let g = sample();
    assert_eq!(
        query(&g, "a", NodeKind::Source, Mode::Local, Alternatives::All),
        ["a"]
    );
    assert_eq!(
        query(&g, "a", NodeKind::Source, Mode::Direct, Alternatives::All),
        ["a", "b"]
    );
}

#[test]
fn plan_orders_waves_and_keeps_cycles_together() {
    let g = sample();
    let a1 = g.find(NodeKind::Binary, "a1").unwrap();
    let set = affected(&g, &g.reverse(Alternatives::All), &[a1], Mode::Transitive);
    let p = plan(&g, &set, Alternatives::All, |_| 10.0);
    let waves: Vec<Vec<String>> = p.waves.iter().map(|w| names(&g, w)).collect();
    assert_eq!(
        waves,
        [
            vec!["b"],
            vec!["c"],
            vec!["d", "e"],
            vec!["img"],
            vec!["prod"]
        ]
    );
    assert_eq!(
        p.cycles.iter().map(|c| names(&g, c)).collect::<Vec<_>>(),
        [vec!["d", "e"]]
    );
    assert_eq!(p.max_width(), 2);
    // b, c, the d+e unit (20 s), img, prod.
    assert_eq!(p.critical_seconds, 60.0);
    assert_eq!(p.total_seconds, 60.0);
}

#[test]
fn a_saved_graph_loads_identical() {
    let g = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.fgr");
    g.save(&path).unwrap();
    let loaded = Graph::load(&path).unwrap();
    assert_eq!(g, loaded);
    assert_eq!(
        loaded.find(NodeKind::Source, "d").map(|n| loaded.name(n)),
        Some("d")
    );
    assert_eq!(loaded.find_all("d1").len(), 1);
}

/// Flipping any byte or cutting the file anywhere is an error, never a panic.
#[test]
fn damaged_snapshots_are_errors() {
    let g = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.fgr");
    g.save(&path).unwrap();
    let good = fs_err::read(&path).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        fs_err::write(&path, &bad).unwrap();
        assert!(
            Graph::load(&path).is_err(),
            "flipping byte {i} went unnoticed"
        );
        fs_err::write(&path, &good[..i]).unwrap();
        assert!(Graph::load(&path).is_err(), "cutting at {i} went unnoticed");
    }
}

/// With the checksum recomputed, damage reaches the structural checks: the
/// load must fail, or give a graph on which every query still works.
#[test]
fn structurally_damaged_snapshots_never_panic() {
    let g = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.fgr");
    g.save(&path).unwrap();
    let good = fs_err::read(&path).unwrap();
    let body = 16..good.len() - 4;
    let mut accepted = 0;
    for i in body.clone() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= flip;
            let crc = crc32fast::hash(&bad[body.clone()]).to_le_bytes();
            let end = bad.len();
            bad[end - 4..].copy_from_slice(&crc);
            fs_err::write(&path, &bad).unwrap();
            let Ok(loaded) = Graph::load(&path) else {
                continue;
            };
            accepted += 1;
            for node in loaded.nodes() {
                for mode in [Mode::Closure, Mode::Direct, Mode::Transitive, Mode::Local] {
                    for alternatives in [Alternatives::All, Alternatives::First] {
                        let set = affected(&loaded, &loaded.reverse(alternatives), &[node], mode);
                        plan(&loaded, &set, alternatives, |_| 1.0);
                    }
                }
                let _ = (
                    loaded.name(node),
                    loaded.version(node),
                    loaded.clauses(node).count(),
                );
            }
        }
    }
    // Names and versions can change without breaking the structure.
    assert!(accepted > 0);
}
