"""unlearnlab: interpretability-guided unlearning in language models.

Find where a piece of knowledge lives, remove it there, and attack the result to check it is
gone. The package is the "thick library" behind the numbered notebooks in ``notebooks/``.
"""

from unlearnlab.core.paths import Paths, repo_root
from unlearnlab.profiles import Profile, get_profile
from unlearnlab.core.seeding import seed_everything

__all__ = ["Paths", "Profile", "get_profile", "repo_root", "seed_everything"]
__version__ = "0.1.0"
