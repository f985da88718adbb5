import torch
from torch_geometric.nn import CGConv

from skmatgp._conv import CrystalGraphConv
from skmatgp._graph_batches import collate
from skmatgp._graphs import gaussian_expansion


def test_conv_computes_pygs_cgconv_on_real_graphs(small_graphs):
    """Same weights, same real crystal graphs: same outputs and gradients as PyG's CGConv."""
    graphs, _ = small_graphs
    batch = collate(graphs[:16], torch.device("cpu"))
    edge_attr = gaussian_expansion(batch.edge_dist, 8.0, 0.2)
    torch.manual_seed(0)
    reference = CGConv(16, dim=edge_attr.shape[1], aggr="mean", batch_norm=True)
    mine = CrystalGraphConv(16, edge_attr.shape[1])
    mine.load_state_dict(reference.state_dict())  # same parameter names: files load into either
    x = torch.randn(batch.num_nodes, 16)
    for mode in ("train", "eval"):
        reference.train(mode == "train")
        mine.train(mode == "train")
        x_ref, x_mine = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_ref = reference(x_ref, batch.edge_index, edge_attr)
        out_mine = mine(x_mine, batch.edge_index, edge_attr)
        assert torch.allclose(out_mine, out_ref, atol=1e-5), mode
        (out_ref**2).sum().backward()
        (out_mine**2).sum().backward()
        assert torch.allclose(x_mine.grad, x_ref.grad, atol=1e-4), mode
        assert torch.allclose(mine.lin_f.weight.grad, reference.lin_f.weight.grad, atol=1e-3), mode
        reference.zero_grad()
        mine.zero_grad()


def test_conv_leaves_an_atom_without_neighbours_to_its_residual():
    conv = CrystalGraphConv(4, 3).eval()
    x = torch.randn(3, 4)
    edge_index = torch.tensor([[0, 1], [1, 0]])  # atom 2 has no incoming edge
    out = conv(x, edge_index, torch.rand(2, 3))
    expected_isolated = x[2] + conv.bn(torch.zeros(1, 4))[0]
    assert torch.allclose(out[2], expected_isolated, atol=1e-6)
