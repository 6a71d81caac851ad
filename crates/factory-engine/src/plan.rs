//! The jobs of a definition and how they depend on one another, computed once per
//! definition: every job's inputs by name, the graph the affected set is read from, and the
//! levels of a wave's plan.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use factory_def::{Definition, ImageBase};
use factory_graph::{Alternatives, Graph, GraphBuilder, Mode, NodeKind, Reverse};
use factory_types::Job;

use crate::recipe::RecipeError;

/// The jobs of one definition. Made once when a definition is loaded; every wave on that
/// definition reads it.
pub struct JobGraph {
    def: Arc<Definition>,
    jobs: Vec<Job>,
    index: HashMap<Job, usize>,
    /// Each job's inputs: input name and the job that makes it.
    inputs: Vec<BTreeMap<String, Job>>,
    /// The definition's graph (components, packages, images, ...), for the affected set.
    graph: Graph,
}

impl JobGraph {
    /// Every job of `def`: components, then images.
    pub fn new(def: Arc<Definition>) -> Result<JobGraph, RecipeError> {
        let jobs = all_jobs(&def);
        let index = jobs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, j)| (j, i))
            .collect();
        let inputs = jobs
            .iter()
            .map(|job| inputs_in(&def, job))
            .collect::<Result<_, _>>()?;
        let mut builder = GraphBuilder::new("factory");
        factory_import::resolve::add_definition(&mut builder, &def);
        let graph = builder.finish();
        Ok(JobGraph {
            def,
            jobs,
            index,
            inputs,
            graph,
        })
    }

    pub fn def(&self) -> &Arc<Definition> {
        &self.def
    }

    /// Every job, components first, each kind in name order.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    pub fn contains(&self, job: &Job) -> bool {
        self.index.contains_key(job)
    }

    /// The jobs whose outputs `job` reads, by input name.
    pub fn inputs(&self, job: &Job) -> Result<&BTreeMap<String, Job>, RecipeError> {
        let i = self
            .index
            .get(job)
            .ok_or_else(|| RecipeError::Unknown { job: job.name() })?;
        Ok(&self.inputs[*i])
    }

    /// The jobs that read `job`'s outputs directly (one step down; [`Self::affected`] goes
    /// all the way).
    pub fn dependents(&self, job: &Job) -> Vec<Job> {
        self.jobs
            .iter()
            .zip(&self.inputs)
            .filter(|(_, inputs)| inputs.values().any(|input| input == job))
            .map(|(dependent, _)| dependent.clone())
            .collect()
    }

    /// Everything a change to `changed` makes necessary to rebuild, through the graph
    /// (transitive mode: what is built from it, and what contains that, to the products).
    pub fn affected(&self, changed: &[Job]) -> Vec<Job> {
        let nodes: Vec<_> = changed
            .iter()
            .filter_map(|job| match job {
                Job::Component(name) => self.graph.find(NodeKind::Source, name),
                Job::Image(name) => self.graph.find(NodeKind::Image, name),
            })
            .collect();
        let mut jobs: BTreeSet<Job> = changed.iter().cloned().collect();
        let reverse = Reverse::build(&self.graph, Alternatives::All);
        let found = factory_graph::affected(&self.graph, &reverse, &nodes, Mode::Transitive);
        for node in found {
            let name = self.graph.name(node);
            let job = match self.graph.kind(node) {
                NodeKind::Source => Job::Component(name.to_owned()),
                NodeKind::Image => Job::Image(name.to_owned()),
                _ => continue,
            };
            if self.contains(&job) {
                jobs.insert(job);
            }
        }
        jobs.into_iter().collect()
    }

    /// The set in an order where every job comes after its inputs in the set (Kahn's
    /// algorithm: iterative, so deep chains cannot exhaust the stack). The definition is
    /// validated acyclic; a cycle would leave jobs out.
    pub fn topological<'a>(&self, set: &'a [Job]) -> Vec<&'a Job> {
        let position: HashMap<&Job, usize> = set.iter().enumerate().map(|(i, j)| (j, i)).collect();
        let mut indegree = vec![0usize; set.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); set.len()];
        for (i, job) in set.iter().enumerate() {
            for input in self.inputs(job).into_iter().flat_map(BTreeMap::values) {
                if let Some(&d) = position.get(input) {
                    indegree[i] += 1;
                    dependents[d].push(i);
                }
            }
        }
        let mut queue: VecDeque<usize> = (0..set.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(set.len());
        while let Some(i) = queue.pop_front() {
            order.push(&set[i]);
            for &d in &dependents[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    queue.push_back(d);
                }
            }
        }
        order
    }

    /// Levels of the set (each depends only on earlier ones), for the wave's plan.
    pub fn levels(&self, set: &[Job]) -> Vec<Vec<String>> {
        let mut level: HashMap<&Job, usize> = HashMap::new();
        let mut out: Vec<Vec<String>> = Vec::new();
        for job in self.topological(set) {
            let l = self
                .inputs(job)
                .into_iter()
                .flat_map(BTreeMap::values)
                .filter_map(|input| level.get(input).map(|l| l + 1))
                .max()
                .unwrap_or(0);
            level.insert(job, l);
            if out.len() <= l {
                out.resize(l + 1, Vec::new());
            }
            out[l].push(job.name());
        }
        out.iter_mut().for_each(|l| l.sort());
        out
    }
}

/// Every job of the definition: components and images.
pub fn all_jobs(def: &Definition) -> Vec<Job> {
    def.components
        .keys()
        .map(|c| Job::Component(c.clone()))
        .chain(def.images.keys().map(|i| Job::Image(i.clone())))
        .collect()
}

/// Whether the definition has the job.
pub fn exists_in(def: &Definition, job: &Job) -> bool {
    match job {
        Job::Component(name) => def.components.contains_key(name),
        Job::Image(name) => def.images.contains_key(name),
    }
}

/// The jobs whose outputs `job` reads, by input name, read from the definition.
pub fn inputs_in(def: &Definition, job: &Job) -> Result<BTreeMap<String, Job>, RecipeError> {
    match job {
        Job::Component(name) => {
            let component = def
                .component(name)
                .ok_or_else(|| RecipeError::Unknown { job: job.name() })?;
            Ok(component
                .build_inputs()
                .map(|input| (input.to_owned(), Job::Component(input.to_owned())))
                .collect())
        }
        Job::Image(name) => image_inputs(def, name),
    }
}

fn image_inputs(def: &Definition, name: &str) -> Result<BTreeMap<String, Job>, RecipeError> {
    let image = def.image(name).ok_or_else(|| RecipeError::Unknown {
        job: Job::Image(name.to_owned()).name(),
    })?;
    let mut inputs = BTreeMap::new();
    for package in &image.packages {
        let producer =
            def.component_for_package(package)
                .ok_or_else(|| RecipeError::UnknownPackage {
                    image: name.to_owned(),
                    package: package.clone(),
                })?;
        inputs.insert(producer.name.clone(), Job::Component(producer.name.clone()));
    }
    for component in &image.components {
        inputs.insert(component.clone(), Job::Component(component.clone()));
    }
    if let ImageBase::Image(base) = &image.base {
        let job = Job::Image(base.clone());
        inputs.insert(job.name(), job);
    }
    Ok(inputs)
}
