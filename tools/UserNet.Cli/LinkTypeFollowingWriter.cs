using UserNet.Capture;

namespace UserNet.Cli;

/// <summary>
/// <c>usernet trace -w</c>'s writer: the file takes the link type of the first record (Ethernet, Linux cooked, raw
/// IP...), so <c>-r cooked.pcap -w copy.pcapng</c> keeps it. One file holds one link type: a record of another is
/// refused with one clear line. A run that writes nothing still leaves a valid (Ethernet) capture.
/// </summary>
internal sealed class LinkTypeFollowingWriter : ICaptureWriter
{
    private readonly string _path;
    private ICaptureWriter? _inner;
    private int _linkType;

    public LinkTypeFollowingWriter(string path)
    {
        _path = path;
        File.Create(path).Dispose(); // a path we cannot write is reported before anything is read
    }

    public void Write(CaptureRecord record)
    {
        if (_inner is null) { _inner = CaptureFile.Create(_path, record.LinkType); _linkType = record.LinkType; }
        else if (record.LinkType != _linkType)
            throw new CliException($"{_path}: cannot write link type {record.LinkType} after link type {_linkType} to one file");
        _inner.Write(record);
    }

    public void Flush() => _inner?.Flush();

    public void Dispose() => (_inner ??= CaptureFile.Create(_path, LinkTypes.Ethernet)).Dispose();
}
