"""Settings of canary.web (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("web.upload_max_mb", int, 100,
            "Largest file the console accepts for a one-off scan (MiB); bigger uploads are refused with 413. "
            "The file is scanned in a worker and deleted afterwards, never kept."),
]
