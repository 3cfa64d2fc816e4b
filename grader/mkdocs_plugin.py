"""The ``grader`` MkDocs plugin: puts the generated pages into the site at build time.

``mkdocs.yml`` lists it under ``plugins:``. It adds the files of :func:`grader.site.render`
(home, how to submit, rules, leaderboard, participants, charts, their data) as virtual files,
so nothing is ever written into ``docs/``; it moves the hand-written ``docs/`` under
``guides/``; and it ships the site's own script and stylesheets from the package.

The links to the repository (home page: the repository and its data; each submission: its pull
request and the Actions run that executed it) need the repository's address: the plugin's
``repository`` option, else the one GitHub Actions names in the job that builds the site.

Run by ``grader site build``, it shows the snapshot that command read (:attr:`GraderSite.data`).
Run by a plain ``mkdocs build``, it reads ``competition.yaml`` (option ``config``) and the
leaderboard (option ``db``, default the competition's) itself, as of now.
"""

from __future__ import annotations

import dataclasses
import html
import os
from pathlib import Path

from mkdocs.config import config_options as opt
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from grader import clock, site
from grader.errors import GraderError

GUIDES = "guides"
OWN_FILES = {
    "assets/grader.js": "grader.js",
    "assets/grader.css": "grader.css",
    "assets/grader-plain.css": "grader-plain.css",
}


class GraderSiteConfig(Config):  # type: ignore[no-untyped-call]
    config = opt.Type(str, default="competition.yaml")
    db = opt.Optional(opt.Type(str))
    # https://github.com/OWNER/NAME, for the links to the repository, its data, pull requests and
    # runs; default: the repository of the GitHub Actions job that builds the site.
    repository = opt.Optional(opt.Type(str))


class GraderSite(BasePlugin[GraderSiteConfig]):  # type: ignore[no-untyped-call]
    """Adds the competition's generated pages to a Material for MkDocs site."""

    def __init__(self) -> None:
        self.data: site.SiteData | None = None
        self.rendered: site.Rendered | None = None

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        if config.use_directory_urls:
            raise PluginError(
                "grader: set `use_directory_urls: false` in mkdocs.yml; the generated pages link to each other "
                "as plain .html files, which also work on a static Hugging Face Space."
            )
        if self.data is None:
            self.data = self._read(Path(config.config_file_path or "mkdocs.yml").resolve().parent)
        repository = self.config.repository or site.repository_url(os.environ)
        if repository is not None and self.data.repository is None:
            if not repository.startswith("https://"):
                raise PluginError(f"grader: repository {repository!r} in mkdocs.yml is not an https:// address.")
            self.data = dataclasses.replace(self.data, repository=repository.rstrip("/"))
        competition = self.data.competition
        # MkDocs' templates do not escape: the title goes in as HTML text.
        config.site_name = html.escape(" ".join(competition.title.split()))
        first = competition.description.strip().split("\n\n")[0]
        config.site_description = html.escape(" ".join(first.split()))
        return config

    def _read(self, root: Path) -> site.SiteData:
        from grader import config as configs
        from grader.pipeline import default_db

        try:
            competition = configs.load(root / self.config.config)
            db = root / self.config.db if self.config.db else default_db(competition)
            # `mkdocs build` is an edge, as the `grader` command is: $GRADER_NOW or the real clock
            return site.load(competition, db, now=clock.from_environ()())
        except GraderError as ex:
            raise PluginError(f"grader: {ex}") from None

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.data is not None  # set by on_config
        docs = Path(config.docs_dir).resolve()
        for file in list(files):
            if file.abs_src_path and Path(file.abs_src_path).resolve().is_relative_to(docs):
                files.remove(file)
                # Same inclusion: a guide that mkdocs.yml keeps out of the navigation (`not_in_nav`) stays out.
                moved = File.generated(config, f"{GUIDES}/{file.src_uri}", abs_src_path=file.abs_src_path)
                moved.inclusion = file.inclusion
                files.append(moved)
        self.rendered = site.render(self.data)
        generated = site.published(self.rendered.files)
        generated.update({path: site.asset(name) for path, name in OWN_FILES.items()})
        generated["grader/competition.schema.json"] = site.schema()
        for path, content in generated.items():
            if files.get_file_from_path(path) is not None:
                raise PluginError(f"grader: {path} is generated from the leaderboard; remove the file of that name.")
            files.append(File.generated(config, path, content=content))
        return files

    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        """Put the big HTML fragments (the leaderboard tables) where their markers are.

        After the search plugin has indexed the page: parsing a 5,000-row table took it seconds.
        The page carries the participants' names for the search instead (see grader.site).
        """
        return self.rendered.fill(output) if self.rendered is not None else output

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        """Leave out the theme's files that no visitor's browser loads (see :func:`grader.site.prune_theme`)."""
        search = next((plugin for name, plugin in config.plugins.items() if name.endswith("search")), None)
        languages = (search.config.get("lang") if search is not None else None) or [config.theme.get("language", "en")]
        site.prune_theme(Path(config.site_dir), languages)
