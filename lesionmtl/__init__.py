"""lesionmtl: weakly supervised lesion segmentation with multi-task learning (Chu et al., MIDL 2021)."""

__version__ = "0.1.0"
