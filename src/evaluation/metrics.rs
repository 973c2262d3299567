//! Counters for the figures the suites report: shares, ranking quality
//! (hit@k and mean reciprocal rank) and percentiles.

use std::time::Duration;

use serde::Serialize;

/// A share counted as `hits` out of `total`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ratio {
    pub hits: usize,
    pub total: usize,
}

impl Ratio {
    /// Counts one item, a hit when `hit` is true.
    pub fn add(&mut self, hit: bool) {
        self.total += 1;
        if hit {
            self.hits += 1;
        }
    }

    /// Returns the share from 0 to 1, or 0 when nothing was counted.
    pub fn value(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.hits as f64 / self.total as f64
        }
    }

    /// `95.1 % (476/500)`, or `n/a` when nothing was counted.
    pub fn describe(&self) -> String {
        if self.total == 0 {
            return "n/a".to_owned();
        }
        format!(
            "{:.1} % ({}/{})",
            self.value() * 100.0,
            self.hits,
            self.total
        )
    }
}

/// Ranking quality over queries that each have one relevant result.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ranking {
    pub queries: usize,
    pub hit_at_1: usize,
    pub hit_at_3: usize,
    pub reciprocal_rank_sum: f64,
}

impl Ranking {
    /// Counts one query whose first relevant result was at `rank`
    /// (1-based), or was not retrieved at all.
    pub fn add(&mut self, rank: Option<usize>) {
        self.queries += 1;
        let Some(rank) = rank else {
            return;
        };
        if rank == 1 {
            self.hit_at_1 += 1;
        }
        if rank <= 3 {
            self.hit_at_3 += 1;
        }
        self.reciprocal_rank_sum += 1.0 / rank as f64;
    }

    /// Share of queries with a relevant result first.
    pub fn hit1(&self) -> f64 {
        share(self.hit_at_1, self.queries)
    }

    /// Share of queries with a relevant result in the first three.
    pub fn hit3(&self) -> f64 {
        share(self.hit_at_3, self.queries)
    }

    /// Mean reciprocal rank; a query without a relevant result counts 0.
    pub fn mrr(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.reciprocal_rank_sum / self.queries as f64
        }
    }
}

fn share(part: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// Returns the 1-based position of the first item that satisfies `is_right`.
pub fn rank_of<T>(items: &[T], is_right: impl Fn(&T) -> bool) -> Option<usize> {
    items.iter().position(is_right).map(|index| index + 1)
}

/// The `p` quantile (0 to 1) of sorted durations by the nearest-rank
/// method, in milliseconds; `None` for no samples.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index].as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_counts_hits_and_mrr() {
        let mut ranking = Ranking::default();
        ranking.add(Some(1));
        ranking.add(Some(2));
        ranking.add(Some(4));
        ranking.add(None);
        assert_eq!(ranking.hit1(), 0.25);
        assert_eq!(ranking.hit3(), 0.5);
        assert!((ranking.mrr() - (1.0 + 0.5 + 0.25) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 0.5), Some(50.0));
        assert_eq!(percentile_ms(&sorted, 0.99), Some(99.0));
        assert_eq!(percentile_ms(&sorted, 1.0), Some(100.0));
        assert_eq!(percentile_ms(&[], 0.5), None);
    }

    #[test]
    fn empty_ratio_is_not_a_number_to_show() {
        assert_eq!(Ratio::default().describe(), "n/a");
        assert_eq!(Ratio::default().value(), 0.0);
    }
}
