"""Everything that imports napari or Qt lives in this subpackage."""
