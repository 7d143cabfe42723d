//! Which models share a GPU (pure functions): InferFair's grouping.
//!
//! The allocation gives every model a share of the cluster's GPU time. The
//! grouping splits those shares over the GPUs, each GPU taking at most its
//! capacity (an input per GPU, so GPUs of different speeds or pools can be
//! given different capacities), so that models that hurt each other are
//! kept apart when the cluster allows: a model whose batches last longer
//! than another model's room for queueing (the part of its SLO not used to
//! fill and run its own batch) makes that model miss its SLO whenever its
//! requests arrive during such a batch.
//!
//! The models are laid end to end in order of their room for queueing
//! (tightest first; a model's own batches are at most about its SLO, so
//! this also puts long batches last), each as an interval as long as its
//! share, over the GPUs laid end to end, each as long as its capacity
//! scaled so that the GPUs are equally subscribed. Each model gets a part
//! on every GPU its interval overlaps. So every GPU holds models of similar
//! room, a model spans only neighbouring GPUs, and on one GPU every model
//! shares it (grouping changes nothing). A part smaller than `min_part` of
//! its GPU's capacity is moved to the model's neighbouring part, so that a
//! model does not run on a GPU for a sliver of a share.

/// One model's input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Member {
    /// Its share of the cluster (GPU seconds per second).
    pub share: f64,
    /// Its room for queueing (seconds): the sort key, tightest first.
    pub room: f64,
}

/// A model's part on one GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Part {
    /// The GPU (index into the capacities).
    pub gpu: usize,
    /// GPU seconds per second of that GPU.
    pub share: f64,
}

/// Every member's parts, one after another (`split_into`): member i's are
/// `parts[start[i]..start[i + 1]]`, GPUs ascending. Kept between periods, so
/// that splitting allocates nothing once its buffers have grown.
#[derive(Clone, Debug, Default)]
pub struct Split {
    parts: Vec<Part>,
    start: Vec<usize>,
    /// Scratch: the parts in layout order and where each member's are in
    /// it; one member's parts before slivers are merged; the layout order;
    /// the GPUs' ends on the line.
    sorted: Vec<Part>,
    at: Vec<(usize, usize)>,
    one: Vec<Part>,
    order: Vec<usize>,
    ends: Vec<f64>,
}

impl Split {
    /// Member i's parts.
    pub fn of(&self, i: usize) -> &[Part] {
        &self.parts[self.start[i]..self.start[i + 1]]
    }

    /// Sets the parts member by member: `each(i)` gives member i's.
    pub fn set(&mut self, n: usize, mut each: impl FnMut(usize, &mut Vec<Part>)) {
        self.parts.clear();
        self.start.clear();
        self.start.push(0);
        for i in 0..n {
            each(i, &mut self.parts);
            self.start.push(self.parts.len());
        }
    }
}

/// Splits the members' shares over GPUs of the given capacities (GPU
/// seconds per second each); returns each member's parts, GPUs ascending.
/// Members with a share of 0 get no part.
#[cfg(test)]
pub fn split(members: &[Member], capacity: &[f64], min_part: f64) -> Vec<Vec<Part>> {
    let mut out = Split::default();
    split_into(members, capacity, min_part, &mut out);
    (0..members.len()).map(|i| out.of(i).to_vec()).collect()
}

/// [`split`], into `out`.
pub fn split_into(members: &[Member], capacity: &[f64], min_part: f64, out: &mut Split) {
    let total: f64 = members.iter().map(|m| m.share.max(0.0)).sum();
    let cap_total: f64 = capacity.iter().sum();
    let Split {
        sorted,
        at,
        one: parts,
        order,
        ends,
        ..
    } = out;
    sorted.clear();
    at.clear();
    at.resize(members.len(), (0, 0));
    if total > 0.0 && cap_total > 0.0 && !capacity.is_empty() {
        order.clear();
        order.extend((0..members.len()).filter(|&i| members[i].share > 0.0));
        order
            .sort_unstable_by(|&a, &b| members[a].room.total_cmp(&members[b].room).then(a.cmp(&b)));
        // GPU g covers [ends[g-1], ends[g]) of the line of shares.
        let scale = total / cap_total;
        ends.clear();
        let mut acc = 0.0;
        for c in capacity {
            acc += c * scale;
            ends.push(acc);
        }
        *ends.last_mut().expect("at least one GPU") = total;
        let mut start = 0.0;
        let mut g = 0;
        for &i in order.iter() {
            let end = start + members[i].share;
            parts.clear();
            let mut from = start;
            while g < ends.len() {
                let to = end.min(ends[g]);
                if to > from + 1e-12 {
                    parts.push(Part {
                        gpu: g,
                        share: to - from,
                    });
                }
                if end <= ends[g] + 1e-12 || g + 1 == ends.len() {
                    break;
                }
                from = from.max(to);
                g += 1;
            }
            // The parts sum to the share exactly (the last takes the rounding).
            let head: f64 = parts.iter().rev().skip(1).map(|p| p.share).sum();
            if let Some(last) = parts.last_mut() {
                last.share = members[i].share - head;
            }
            merge_slivers(parts, capacity, min_part);
            at[i] = (sorted.len(), sorted.len() + parts.len());
            sorted.extend_from_slice(parts);
            start = end;
        }
    }
    let (sorted, at) = (std::mem::take(&mut out.sorted), std::mem::take(&mut out.at));
    out.set(members.len(), |i, v| {
        v.extend_from_slice(&sorted[at[i].0..at[i].1])
    });
    (out.sorted, out.at) = (sorted, at);
}

/// Moves a part smaller than `min_part` of its GPU's capacity to the
/// model's neighbouring part (the larger neighbour), keeping the total.
fn merge_slivers(parts: &mut Vec<Part>, capacity: &[f64], min_part: f64) {
    while parts.len() > 1 {
        let Some(k) = parts
            .iter()
            .position(|p| p.share < min_part * capacity[p.gpu])
        else {
            break;
        };
        let to = if k == 0 {
            1
        } else if k + 1 == parts.len() || parts[k - 1].share >= parts[k + 1].share {
            k - 1
        } else {
            k + 1
        };
        parts[to].share += parts[k].share;
        parts.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(share: f64, room: f64) -> Member {
        Member { share, room }
    }

    fn sum(parts: &[Part]) -> f64 {
        parts.iter().map(|p| p.share).sum()
    }

    #[test]
    fn one_gpu_holds_everyone() {
        let p = split(&[m(0.3, 0.1), m(0.7, 0.02)], &[1.0], 0.05);
        assert_eq!(p[0], vec![Part { gpu: 0, share: 0.3 }]);
        assert_eq!(p[1], vec![Part { gpu: 0, share: 0.7 }]);
    }

    #[test]
    fn tight_models_first_long_batches_last_and_spans_split() {
        // Shares 0.5 (room 25 ms), 0.02 (15 ms), 0.8 (50 ms), 2.68 (100 ms) on 4 GPUs.
        let members = [m(0.5, 0.025), m(0.02, 0.015), m(0.8, 0.05), m(2.68, 0.1)];
        let p = split(&members, &[1.0; 4], 0.05);
        // Order: 1 [0, 0.02), 0 [0.02, 0.52), 2 [0.52, 1.32), 3 [1.32, 4.0).
        assert_eq!(
            p[1],
            vec![Part {
                gpu: 0,
                share: 0.02
            }]
        );
        assert_eq!(p[0], vec![Part { gpu: 0, share: 0.5 }]);
        assert_eq!(p[2].len(), 2);
        assert!((p[2][0].share - 0.48).abs() < 1e-12 && p[2][1].gpu == 1);
        assert!((p[2][1].share - 0.32).abs() < 1e-12);
        let gpus: Vec<usize> = p[3].iter().map(|x| x.gpu).collect();
        assert_eq!(gpus, vec![1, 2, 3]);
        assert!((sum(&p[3]) - 2.68).abs() < 1e-12);
        // Every GPU is full.
        for g in 0..4 {
            let load: f64 = p
                .iter()
                .flatten()
                .filter(|x| x.gpu == g)
                .map(|x| x.share)
                .sum();
            assert!((load - 1.0).abs() < 1e-9, "gpu {g}: {load}");
        }
    }

    #[test]
    fn capacities_scale_and_slivers_merge() {
        // Two GPUs, the second twice as fast; shares total 1.5 (half subscribed).
        let p = split(&[m(0.5, 0.01), m(1.0, 0.02)], &[1.0, 2.0], 0.05);
        // Line: GPU 0 covers [0, 0.5), GPU 1 [0.5, 1.5).
        assert_eq!(p[0], vec![Part { gpu: 0, share: 0.5 }]);
        assert_eq!(p[1], vec![Part { gpu: 1, share: 1.0 }]);
        // A model crossing a boundary by a sliver keeps it on its main GPU.
        let p = split(&[m(0.99, 0.01), m(1.01, 0.02)], &[1.0, 1.0], 0.05);
        assert_eq!(
            p[1],
            vec![Part {
                gpu: 1,
                share: 1.01
            }]
        );
        assert_eq!(split(&[m(0.0, 0.1)], &[1.0], 0.05), vec![vec![]]);
    }
}
