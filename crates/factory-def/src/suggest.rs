//! "Did you mean" suggestions.

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count().div_ceil(3)).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_near_names_only() {
        let names = ["libgreet", "hello", "greet-cli"];
        assert_eq!(did_you_mean("libgret", names), Some("libgreet"));
        assert_eq!(did_you_mean("helo", names), Some("hello"));
        assert_eq!(did_you_mean("zlib", names), None);
        assert_eq!(did_you_mean("sorce", ["src", "out"]), Some("src"));
        assert_eq!(did_you_mean("x", ["a", "out"]), Some("a"));
    }
}
