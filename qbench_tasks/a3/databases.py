"""The seven A3 IQA databases: one record each, shared by tasks, converter, cards and errors."""

from __future__ import annotations

from dataclasses import dataclass

from qbench_tasks.data.location import dataset_identity

# Where ``qbench fetch a3`` gets a database: the images from the Q-Bench authors' archives on the
# hub (the ones Q-Align trains and tests on), the labels from the Q-Bench repository at the commit
# whose blobs ``labels_blob`` records (each download is checked against it).
IMAGES_REPO = "q-future/q-align-datasets"  # a dataset repository
IMAGES_REPO_URL = f"https://huggingface.co/datasets/{IMAGES_REPO}"
LABELS_REPO_URL = "https://github.com/Q-Future/Q-Bench"
LABELS_COMMIT = "f19783ea1890212794ab220c90c7f71342a6289b"
LABELS_URL = f"https://raw.githubusercontent.com/Q-Future/Q-Bench/{LABELS_COMMIT}/a3_iqa_databases/jsons"
LABELS_URL_ENV = "QBENCH_A3_LABELS_URL"  # another base URL for the label files (a mirror)


@dataclass(frozen=True)
class IQADatabase:
    name: str  # dataset folder name and task suffix: qbench_a3_<name>
    title: str  # as the Q-Bench paper's A3 table heads the column
    official_labels: str  # label file in the Q-Bench release, a3_iqa_databases/jsons/
    official_image_root: str  # image folder the official script reads, under ../datasets/
    mos: str  # what the label number is, for the dataset card
    homepage: str
    archive: str | None = None  # its image archive in IMAGES_REPO (``qbench fetch a3``)
    labels_blob: str | None = None  # git blob SHA-1 of official_labels at LABELS_COMMIT
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
                    "MOS on a 1-5 scale", "http://database.mmsp-kn.de/koniq-10k-database.html",
                    "koniq.tar", "4f7b610f4c4a9c310bf0fb0828bb00c33dfae32e"),
        IQADatabase("spaq", "SPAQ", "spaq.json", "SPAQ",
                    "MOS on a 0-100 scale", "https://github.com/h4nwei/SPAQ",
                    "spaq.tar", "5f5a731217683d61a2695d6fc646e4e4ec93f70e"),
        IQADatabase("livefb", "LIVE-FB", "flive.json", "FLIVE_Database/database",
                    "MOS on a 0-100 scale", "https://baidut.github.io/PaQ-2-PiQ/",
                    "flive.tar", "b14d483363bf016e45a9131c0d7952a80f82172a"),
        IQADatabase("liveitw", "LIVE-itw", "livec.json", "LIVEC/Images",
                    "MOS on a 0-100 scale", "https://live.ece.utexas.edu/research/ChallengeDB/",
                    "livec.tar", "f3c2cc95beec1b4d84a5ed8f25ffb23882a1180f"),
        IQADatabase("cgiqa6k", "CGIQA-6K", "cgi.json", "CGIQA-6K/database",
                    "MOS on a 0-5 scale; items 0-2999 are game frames (game_*), "
                    "3000-5999 movie frames (movie_*)",
                    "https://github.com/zzc-1998/CGIQA6K",
                    "agi-cgi.tar", "b0adf5afcea0ed483baa6bc668e0f57b1c8852b2"),
        IQADatabase("agiqa3k", "AGIQA-3K", "agi.json", "AGIQA-3K/database",
                    "perceptual-quality MOS on a 0-5 scale", "https://github.com/lcysyzxdxc/AGIQA-3k-Database",
                    "agi-cgi.tar", "8a6de5c7824087ae4c416950ad8e171ff1a9c804"),
        IQADatabase("kadid10k", "KADID-10K", "kadid.json", "kadid10k/images",
                    "DMOS on a 1-5 scale (higher is better)", "http://database.mmsp-kn.de/kadid-10k-database.html",
                    "kadid10k.tar", "e20d6e21599c08000e527361137cbeae20bb790b"),
    )
}


def get_database(name: str) -> IQADatabase:
    try:
        return A3_DATABASES[name]
    except KeyError:
        raise ValueError(
            f"unknown A3 database {name!r}; choose from {', '.join(A3_DATABASES)}"
        ) from None
