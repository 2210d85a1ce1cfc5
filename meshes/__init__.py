"""biomech.meshes: anatomy as labelled voxel models (parametric vertebrae, discs,
segments; surfaces and CT).  May import biomech.kernels, never the physics."""
