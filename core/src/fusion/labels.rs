//! Anonymizing the candidates: labels A, B, C... given in an order shuffled from the fusion's
//! seed (the same seed gives the same order), and the per-request nonce of the delimiters that
//! wrap each candidate, so that no candidate can close its own wrapper.
use fastrand::Rng;

/// The label of position `i`: A..Z, then AA, AB...
pub fn label(i: usize) -> String {
    let mut n = i;
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

/// A random generator for one purpose of a fusion (`stream`: the judge's lineup 0, a debate
/// member's view of a round, ...), derived from the fusion's seed alone.
pub fn rng(seed: u64, stream: u64) -> Rng {
    Rng::with_seed(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Candidates in the order a judge sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineup {
    /// `order[k]`: the candidate (an index into the caller's list) shown at position `k`.
    pub order: Vec<usize>,
    /// `labels[k]`: the label shown at position `k` (A, B, ...).
    pub labels: Vec<String>,
    /// Part of the delimiters' tag name, unknown to the candidates when they wrote.
    pub nonce: String,
}

impl Lineup {
    /// `items` (candidate indices) in an order shuffled by `rng`, labelled A, B, ...
    pub fn shuffled(items: &[usize], rng: &mut Rng) -> Lineup {
        let mut order = items.to_vec();
        rng.shuffle(&mut order);
        let nonce = format!("{:08x}", rng.u32(..));
        Lineup {
            labels: (0..order.len()).map(label).collect(),
            order,
            nonce,
        }
    }

    /// The same candidates in reverse order, labelled again from A (the order-swap pass).
    pub fn reversed(&self) -> Lineup {
        let mut order = self.order.clone();
        order.reverse();
        Lineup {
            labels: self.labels.clone(),
            order,
            nonce: self.nonce.clone(),
        }
    }

    /// The candidate shown as `label`.
    pub fn candidate(&self, label: &str) -> Option<usize> {
        self.labels
            .iter()
            .position(|l| l == label)
            .map(|k| self.order[k])
    }

    /// The label of candidate `index`.
    pub fn label_of(&self, index: usize) -> Option<&str> {
        self.order
            .iter()
            .position(|&i| i == index)
            .map(|k| self.labels[k].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_run_past_z() {
        assert_eq!(
            [0, 1, 25, 26, 27, 51, 52].map(label),
            ["A", "B", "Z", "AA", "AB", "AZ", "BA"].map(String::from)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let items: Vec<usize> = (0..6).collect();
        let a = Lineup::shuffled(&items, &mut rng(42, 0));
        let b = Lineup::shuffled(&items, &mut rng(42, 0));
        assert_eq!(a, b);
        let orders: std::collections::BTreeSet<Vec<usize>> = (0..20)
            .map(|s| Lineup::shuffled(&items, &mut rng(s, 0)).order)
            .collect();
        assert!(orders.len() > 10, "seeds give different orders");
        let r = a.reversed();
        assert_eq!(r.candidate("A"), a.candidate(&label(5)));
        assert_eq!(a.label_of(a.order[2]), Some("C"));
    }
}
