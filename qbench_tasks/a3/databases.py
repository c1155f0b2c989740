"""The seven A3 IQA databases: one record each, shared by tasks, converter, cards and errors."""

from __future__ import annotations

from dataclasses import dataclass

from qbench_tasks.data.location import dataset_identity


@dataclass(frozen=True)
class IQADatabase:
    name: str  # dataset folder name and task suffix: qbench_a3_<name>
    title: str  # as the Q-Bench paper's A3 table heads the column
    official_labels: str  # label file in the Q-Bench release, a3_iqa_databases/jsons/
    official_image_root: str  # image folder the official script reads, under ../datasets/
    mos: str  # what the label number is, for the dataset card
    homepage: str
    source: str | None = None  # card text; None: the official release's files
    licensing: str | None = None  # card text; None: the database's own terms

    @property
    def task(self) -> str:
        return f"qbench_a3_{self.name}"

    @property
    def identity(self) -> str:
        """What its converted dataset records itself to be (``qbench_tasks.data.location.dataset_identity``)."""
        return dataset_identity("a3", self.name)


A3_DATABASES: dict[str, IQADatabase] = {
    db.name: db
    for db in (
        IQADatabase("koniq", "KonIQ-10k", "koniq.json", "1024x768",
                    "MOS on a 1-5 scale", "http://database.mmsp-kn.de/koniq-10k-database.html"),
        IQADatabase("spaq", "SPAQ", "spaq.json", "SPAQ",
                    "MOS on a 0-100 scale", "https://github.com/h4nwei/SPAQ"),
        IQADatabase("livefb", "LIVE-FB", "flive.json", "FLIVE_Database/database",
                    "MOS on a 0-100 scale", "https://baidut.github.io/PaQ-2-PiQ/"),
        IQADatabase("liveitw", "LIVE-itw", "livec.json", "LIVEC/Images",
                    "MOS on a 0-100 scale", "https://live.ece.utexas.edu/research/ChallengeDB/"),
        IQADatabase("cgiqa6k", "CGIQA-6K", "cgi.json", "CGIQA-6K/database",
                    "MOS on a 0-5 scale; items 0-2999 are game frames (game_*), "
                    "3000-5999 movie frames (movie_*)",
                    "https://github.com/zzc-1998/CGIQA6K"),
        IQADatabase("agiqa3k", "AGIQA-3K", "agi.json", "AGIQA-3K/database",
                    "perceptual-quality MOS on a 0-5 scale", "https://github.com/lcysyzxdxc/AGIQA-3k-Database"),
        IQADatabase("kadid10k", "KADID-10K", "kadid.json", "kadid10k/images",
                    "DMOS on a 1-5 scale (higher is better)", "http://database.mmsp-kn.de/kadid-10k-database.html"),
    )
}


def get_database(name: str) -> IQADatabase:
    try:
        return A3_DATABASES[name]
    except KeyError:
        raise ValueError(
            f"unknown A3 database {name!r}; choose from {', '.join(A3_DATABASES)}"
        ) from None
