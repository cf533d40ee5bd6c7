import sys
from pathlib import Path

# Make the stand-alone scripts in <repo>/scripts importable as modules (e.g. generate_sample_data).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
