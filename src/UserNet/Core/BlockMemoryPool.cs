using System.Buffers;

namespace UserNet.Core;

/// <summary>
/// Fixed-size blocks for the stack's pipes that recycles the owner objects as well as the arrays. The shared
/// <see cref="MemoryPool{T}"/> wraps each rented array in a new owner object, and a pipe whose reader keeps up
/// rents a segment for nearly every write: one small allocation per packet, which this removes. Larger requests
/// than a block go past the pool (a pipe then uses <see cref="ArrayPool{T}"/> directly).
/// </summary>
internal sealed class BlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 16 * 1024;
    /// <summary>Blocks kept for reuse; more than this are left to the GC when returned.</summary>
    private const int Retained = 1024;

    public static readonly BlockMemoryPool Instance = new();

    private readonly Stack<Block> _free = new();

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize) throw new ArgumentOutOfRangeException(nameof(minBufferSize));
        Block? b;
        lock (_free) _free.TryPop(out b);
        b ??= new Block(this);
        b.Rented = true;
        return b;
    }

    private void Return(Block b)
    {
        lock (_free)
            if (_free.Count < Retained) _free.Push(b);
    }

    protected override void Dispose(bool disposing) { }

    private sealed class Block(BlockMemoryPool pool) : IMemoryOwner<byte>
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        public bool Rented;
        public Memory<byte> Memory => _array;

        public void Dispose()
        {
            if (!Rented) return;
            Rented = false;
            pool.Return(this);
        }
    }
}
