//! Docker's generated container names (`adjective_surname`): a container named so was made by
//! `docker run` or `docker create` without `--name`.

/// The adjectives of Docker's name generator (moby `pkg/namesgenerator`, the `left` list).
const DOCKER_ADJECTIVES: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "condescending",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

/// A name Docker generated (`adjective_surname`, a digit appended on a retry): `^[a-z]+_[a-z]+[0-9]*$`
/// with the adjective from Docker's list.
pub fn is_generated_name(name: &str) -> bool {
    let Some((left, right)) = name.split_once('_') else {
        return false;
    };
    let letters = right.bytes().take_while(u8::is_ascii_lowercase).count();
    letters > 0
        && right.bytes().skip(letters).all(|b| b.is_ascii_digit())
        && DOCKER_ADJECTIVES.binary_search(&left).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjectives_are_sorted_for_binary_search() {
        assert!(DOCKER_ADJECTIVES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn generated_names() {
        let cases = [
            ("eloquent_mcclintock", true),
            ("crazy_napier", true),
            ("zen_turing7", true),
            ("boring_wozniak", true),
            ("web", false),
            ("my_app", false),
            ("eloquent_", false),
            ("eloquent_McClintock", false),
            ("eloquent_mcclintock_2", false),
            ("eloquent-mcclintock", false),
            ("_mcclintock", false),
            ("eloquent_7", false),
            ("compose_web_1", false),
            ("", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_generated_name(name), want, "{name}");
        }
    }
}
