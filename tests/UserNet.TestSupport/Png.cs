using System.Buffers.Binary;
using System.IO.Compression;

namespace UserNet.TestSupport;

/// <summary>
/// A PNG decoded to RGB, enough for the screenshots headless Chromium takes: 8-bit truecolour with or without
/// alpha, not interlaced (PNG specification, sections 11.2.2 and 9: chunks, zlib data, one filter byte per row).
/// </summary>
public sealed class Png
{
    public int Width { get; }
    public int Height { get; }
    private readonly byte[] _rgb;

    private Png(int width, int height, byte[] rgb) => (Width, Height, _rgb) = (width, height, rgb);

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get { int i = (y * Width + x) * 3; return (_rgb[i], _rgb[i + 1], _rgb[i + 2]); }
    }

    public static Png Read(string path) => Decode(File.ReadAllBytes(path));

    public static Png Decode(byte[] file)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (file.Length < 8 || !file.AsSpan(0, 8).SequenceEqual(signature)) throw new InvalidDataException("not a PNG file");
        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at + 12 <= file.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(file, at + 4, 4);
            var data = file.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                byte depth = data[8], colour = data[9], interlace = data[12];
                if (depth != 8 || interlace != 0 || colour is not (2 or 6)) throw new NotSupportedException($"PNG depth {depth}, colour type {colour}, interlace {interlace}");
                channels = colour == 6 ? 4 : 3;
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            at += 12 + length;
        }
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        int stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        int read = 0;
        while (read < raw.Length && z.Read(raw, read, raw.Length - read) is var n and > 0) read += n;
        if (read != raw.Length) throw new InvalidDataException($"PNG data ends after {read} of {raw.Length} bytes");

        var rgb = new byte[width * height * 3];
        var previous = new byte[stride];
        var row = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            byte filter = raw[y * (stride + 1)];
            var line = raw.AsSpan(y * (stride + 1) + 1, stride);
            for (int i = 0; i < stride; i++)
            {
                int a = i >= channels ? row[i - channels] : 0, b = previous[i], c = i >= channels ? previous[i - channels] : 0;
                row[i] = (byte)(line[i] + filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG filter {filter}"),
                });
            }
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + x) * 3;
                rgb[o] = row[x * channels]; rgb[o + 1] = row[x * channels + 1]; rgb[o + 2] = row[x * channels + 2];
            }
            (previous, row) = (row, previous);
        }
        return new Png(width, height, rgb);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>The rows (y) of the pixels within <paramref name="tolerance"/> of a colour, in order; one entry per pixel.</summary>
    public List<int> RowsOf((byte R, byte G, byte B) colour, int tolerance = 10)
    {
        var rows = new List<int>();
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                var (r, g, b) = this[x, y];
                if (Math.Abs(r - colour.R) <= tolerance && Math.Abs(g - colour.G) <= tolerance && Math.Abs(b - colour.B) <= tolerance) rows.Add(y);
            }
        return rows;
    }

    /// <summary>How many pixels of a region are not (nearly) white.</summary>
    public int NonWhite(int x0, int y0, int x1, int y1)
    {
        int n = 0;
        for (int y = Math.Max(0, y0); y < Math.Min(Height, y1); y++)
            for (int x = Math.Max(0, x0); x < Math.Min(Width, x1); x++)
            {
                var (r, g, b) = this[x, y];
                if (r < 240 || g < 240 || b < 240) n++;
            }
        return n;
    }
}
