"""The answer check: claims, the offline judge, faithfulness and citation checks."""
