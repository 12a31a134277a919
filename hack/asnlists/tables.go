package main

// The reviewed tables. Organisation names are written exactly as the data
// spells them: ip-location-db takes most of them from DB-IP, which uses a
// company's registered name ("Amazon.com, Inc."), not the AS handle that
// routing tables show ("AMAZON-02"). To review a new data release, run
// `make asn-lists` and read the diff of policies/portcullis/networks.yaml; to
// find candidates, grep the CSV files for a provider's name.

// rule selects autonomous systems by organisation name.
type rule struct {
	// org is the organisation as the data names it, ignoring case; a
	// trailing "*" matches any name that starts with the rest.
	org string
	// asns, when set, pins the rule to these AS numbers, for companies
	// whose one name also covers networks that must not be selected (an
	// office network, a consumer ISP, a CDN). Each must be in the data
	// under org.
	asns []uint32
	// why is the reviewer's note: what the network is.
	why string
}

// hostingRules: clouds, VPS and dedicated-server hosts, and the networks
// that commercial VPN services rent their exits from. Transit carriers
// (Cogent, Hurricane Electric, Lumen) are not here: their customers include
// ordinary offices and ISPs. Neither are CDNs whose edge also carries
// consumer privacy relays (see never).
var hostingRules = []rule{
	// The big clouds. Their corporate and consumer networks share the
	// company name, so the cloud AS numbers are pinned.
	{org: "Amazon.com, Inc.", asns: []uint32{16509, 14618}, why: "Amazon Web Services"},
	{org: "Amazon Data Services*", why: "Amazon Web Services regional entities"},
	{org: "Google LLC", asns: []uint32{15169, 396982, 19527}, why: "Google and Google Cloud"},
	{org: "Google Cloud*", why: "Google Cloud regional entities"},
	{org: "Microsoft Corporation", asns: []uint32{8075}, why: "Microsoft Azure; 3598 is Microsoft's own office network"},
	{org: "Oracle Corporation", asns: []uint32{31898}, why: "Oracle Cloud Infrastructure"},
	{org: "IBM Cloud", why: "IBM Cloud (SoftLayer)"},
	{org: "Alibaba (US) Technology Co., Ltd.", why: "Alibaba Cloud"},
	{org: "Alibaba Cloud*", why: "Alibaba Cloud"},
	{org: "Hangzhou Alibaba Advertising Co.,Ltd.", asns: []uint32{37963}, why: "Alibaba Cloud (Aliyun) in China"},
	{org: "Shenzhen Tencent Computer Systems Company Limited", asns: []uint32{132203, 45090}, why: "Tencent Cloud"},
	{org: "Tencent Cloud*", why: "Tencent Cloud"},
	{org: "Huawei Cloud*", why: "Huawei Cloud"},
	{org: "Yandex.Cloud*", why: "Yandex Cloud"},
	{org: "NAVER Cloud*", why: "Naver Cloud"},
	{org: "Beijing Kingsoft Cloud*", why: "Kingsoft Cloud"},
	{org: "Shanghai UCloud*", why: "UCloud"},
	{org: "UCLOUD INFORMATION TECHNOLOGY*", why: "UCloud"},
	// Akamai's name covers its CDN, whose edge also egresses iCloud
	// Private Relay; only the former Linode cloud is pinned.
	{org: "Akamai Technologies, Inc.", asns: []uint32{63949}, why: "Akamai Connected Cloud (Linode)"},
	{org: "Linode*", why: "Linode"},

	// VPS and dedicated-server hosts.
	{org: "DigitalOcean*", why: "DigitalOcean"},
	{org: "OVH*", why: "OVHcloud"},
	{org: "Hetzner Online*", why: "Hetzner"},
	{org: "The Constant Company*", why: "Vultr (formerly Choopa)"},
	{org: "Contabo*", why: "Contabo"},
	{org: "Scaleway*", why: "Scaleway (formerly Online S.A.S.)"},
	{org: "Leaseweb*", why: "Leaseweb, every region"},
	{org: "Hostinger*", why: "Hostinger"},
	{org: "IONOS SE", why: "IONOS hosting"},
	{org: "Kamatera*", why: "Kamatera"},
	{org: "UpCloud*", why: "UpCloud"},
	{org: "Hivelocity*", why: "Hivelocity"},
	{org: "Rackspace Hosting", why: "Rackspace"},
	{org: "Servers.com*", why: "Servers.com"},
	{org: "JSC Selectel", why: "Selectel"},
	{org: "JSC \"TIMEWEB\"", why: "Timeweb"},
	{org: "Timeweb*", why: "Timeweb"},
	{org: "UAB Cherry Servers", why: "Cherry Servers"},
	{org: "Psychz Networks", why: "Psychz"},
	{org: "QuadraNet*", why: "QuadraNet"},
	{org: "HostPapa", why: "HostPapa, which owns ColoCrossing (36352) and Hostwinds (54290)"},
	{org: "Hostpapa*", why: "HostPapa"},
	{org: "FranTech Solutions", why: "FranTech (BuyVM)"},
	{org: "Interserver*", why: "InterServer"},
	{org: "FDCservers*", why: "FDCservers"},
	{org: "WorldStream*", why: "WorldStream"},
	{org: "NForce Entertainment*", why: "NForce"},
	{org: "Serverius*", why: "Serverius"},
	{org: "i3D.net*", why: "i3D.net"},
	{org: "xTom*", why: "xTom"},
	{org: "Clouvider*", why: "Clouvider"},
	{org: "Zenlayer*", why: "Zenlayer"},
	{org: "G-Core Labs*", why: "G-Core Labs"},
	{org: "Sharktech", why: "Sharktech"},
	{org: "Limestone Networks*", why: "Limestone Networks"},
	{org: "TeraSwitch*", why: "TeraSwitch"},
	{org: "Nexeon Technologies*", why: "Nexeon"},
	{org: "QuickPacket*", why: "QuickPacket"},
	{org: "EGIHosting", why: "EGIHosting"},
	{org: "GorillaServers*", why: "GorillaServers"},
	{org: "ReliableSite*", why: "ReliableSite"},
	{org: "WholeSale Internet*", why: "Wholesale Internet"},
	{org: "Joe's Datacenter*", why: "Joe's Datacenter"},
	{org: "tzulo*", why: "tzulo"},
	{org: "Webzilla*", why: "Webzilla"},
	{org: "HostRoyale*", why: "HostRoyale"},
	{org: "AEZA*", why: "Aeza"},
	{org: "Aeza Group*", why: "Aeza"},
	{org: "CLOUDSIGMA*", why: "CloudSigma"},
	{org: "DMIT Cloud Services", why: "DMIT"},
	{org: "BlueVPS*", why: "BlueVPS"},
	{org: "M247*", why: "M247, a favourite of commercial VPN services"},

	// The networks of VPN services and of the hosts they rent from.
	{org: "Datacamp Limited", why: "Datacamp (CDN77, DataPacket), VPN exits"},
	{org: "PacketHub*", why: "PacketHub, VPN exits"},
	{org: "31173 Services AB", why: "Mullvad VPN exits"},
	{org: "Mullvad VPN*", why: "Mullvad VPN"},
	{org: "Proton AG", why: "Proton VPN exits"},
	{org: "FlokiNET*", why: "FlokiNET"},
}

// mobileRules: mobile carriers, whose subscribers share addresses through
// carrier-grade NAT. Only networks that are clearly mobile are here; most
// national carriers run their fixed lines under the same name, so their
// mobile AS numbers are pinned, and a carrier whose AS mixes fixed and
// mobile customers (Deutsche Telekom AS3320, Orange AS3215, Telstra AS1221,
// Rogers AS812, Telus AS852) is left out.
var mobileRules = []rule{
	// North America.
	{org: "T-Mobile USA, Inc.", why: "T-Mobile US"},
	{org: "Verizon Business", asns: []uint32{22394, 6167}, why: "Verizon Wireless (Cellco Partnership); 701 is Verizon's fixed network"},
	{org: "AT&T Enterprises, LLC", asns: []uint32{20057}, why: "AT&T Mobility; 7018 is AT&T's fixed network"},
	{org: "Boost Mobile", why: "Boost Mobile"},
	{org: "Liberty Mobile Puerto Rico*", why: "Liberty Mobile Puerto Rico"},
	{org: "Bell Canada", asns: []uint32{36522}, why: "Bell Mobility"},
	{org: "RadioMovil Dipsa*", why: "Telcel (Mexico)"},
	// Latin America.
	{org: "TIM S/A", asns: []uint32{26615}, why: "TIM Brasil"},
	{org: "COMCEL S.A.", asns: []uint32{26611}, why: "Claro Colombia mobile"},
	// Europe.
	{org: "Hutchison 3G UK Limited", why: "Three UK"},
	{org: "Telefonica UK Limited", asns: []uint32{35228}, why: "O2 UK"},
	{org: "Vodafone Limited", asns: []uint32{25135}, why: "Vodafone UK mobile; 5378 is Vodafone UK's fixed network"},
	{org: "Three Ireland (Hutchison)*", why: "Three Ireland"},
	{org: "Hutchison Drei Austria*", why: "Drei Austria"},
	{org: "Free Mobile SAS", why: "Free Mobile (France)"},
	{org: "T-Mobile Polska*", why: "T-Mobile Poland"},
	{org: "TT Mobil Iletisim Hizmetleri*", why: "Türk Telekom mobile"},
	{org: "TURKCELL ILETISIM HIZMETLERI*", why: "Turkcell"},
	{org: "T2 Mobile LLC", why: "Tele2 Russia"},
	// Africa and the Middle East.
	{org: "Safaricom Limited", why: "Safaricom (Kenya)"},
	{org: "MTN NIGERIA*", why: "MTN Nigeria"},
	{org: "MTN SA", asns: []uint32{16637}, why: "MTN South Africa"},
	{org: "Scancom Ltd.", why: "MTN Ghana"},
	{org: "Vodacom", asns: []uint32{36994}, why: "Vodacom South Africa"},
	{org: "The Egyptian Company for Mobile Services*", why: "Orange Egypt (Mobinil)"},
	// Asia and Oceania.
	{org: "Reliance Jio Infocomm Limited", why: "Reliance Jio (India)"},
	{org: "Bharti Airtel Limited", asns: []uint32{45609}, why: "Airtel mobile (India); 24560 and 9498 are its fixed and backbone networks"},
	{org: "Vodafone Idea Ltd. (VIL)", why: "Vodafone Idea (India), a mobile-only carrier"},
	{org: "Mobilink GSM*", why: "Jazz (Pakistan)"},
	{org: "Globe Telecom Inc.", asns: []uint32{132199}, why: "Globe mobile (Philippines)"},
	{org: "Smart Broadband, Inc.", asns: []uint32{10139}, why: "Smart (Philippines)"},
	{org: "PT. Telekomunikasi Selular", why: "Telkomsel (Indonesia)"},
	{org: "PT XL Axiata*", why: "XL Axiata (Indonesia)"},
	{org: "ADVANCED WIRELESS NETWORK COMPANY LIMITED", why: "AIS mobile (Thailand)"},
	{org: "True Move Company Limited", why: "TrueMove H (Thailand)"},
	{org: "DTAC TriNet*", why: "dtac (Thailand)"},
	{org: "Celcom Axiata Berhad", why: "Celcom (Malaysia)"},
	{org: "U Mobile Sdn Bhd", why: "U Mobile (Malaysia)"},
	{org: "DiGi Telecommunications*", why: "Digi (Malaysia)"},
	{org: "Singapore Telecom Mobile*", why: "Singtel mobile"},
	{org: "Smartone Mobile*", why: "SmarTone (Hong Kong)"},
	{org: "NTT DOCOMO, INC.", why: "NTT Docomo (Japan)"},
	{org: "Rakuten Mobile, Inc.", why: "Rakuten Mobile (Japan)"},
	{org: "Two Degrees Mobile Limited", why: "2degrees (New Zealand)"},
}

// never lists what no rule may select, whatever a future table says.
var never = []struct {
	asn uint32
	org string
	why string
}{
	// Cloudflare's WARP and its share of iCloud Private Relay egress
	// serve ordinary people on their phones and laptops.
	{asn: 13335, why: "Cloudflare"},
	{org: "Cloudflare*", why: "Cloudflare, every entity"},
}
