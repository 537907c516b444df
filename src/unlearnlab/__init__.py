"""unlearnlab: interpretability-guided unlearning in language models.

Find where a piece of knowledge lives, remove it there, and attack the result to check it is
gone. The package is the "thick library" behind the numbered notebooks in ``notebooks/``.
"""

import warnings

# tqdm.auto (imported by transformers, datasets, peft) warns in a Jupyter kernel without ipywidgets;
# we draw no progress bars in notebooks, so the widget is not missing: keep the red line out of them.
warnings.filterwarnings("ignore", message="IProgress not found")

from unlearnlab.core.paths import Paths, repo_root  # noqa: E402
from unlearnlab.profiles import Profile, get_profile  # noqa: E402
from unlearnlab.core.seeding import seed_everything  # noqa: E402

__all__ = ["Paths", "Profile", "get_profile", "repo_root", "seed_everything"]
__version__ = "0.1.0"
